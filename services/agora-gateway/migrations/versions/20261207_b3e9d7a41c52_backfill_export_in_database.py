"""back-fill exports kept in the database (sealed chunks), job leases held by an instance

The uploaded export used to be a file on the receiving instance's disk (`file_path`): another
instance could not read it. It is now `backfill_chunks` (sealed), and `backfill_jobs` says which
instance holds a running job (`held_by`) and how many times it was claimed (`claims`, the
fencing count of its lease). A job still queued or running at the upgrade has its export on
one host's disk, which the new code no longer reads: it is failed with an error saying so, and
its export is uploaded again as a new job (files already loaded count as `already_known`).

Revision ID: b3e9d7a41c52
Revises: f7a2c41d9e08
Create Date: 2026-12-07 09:30:00
"""
import sqlalchemy as sa
from alembic import op

revision = 'b3e9d7a41c52'
down_revision = 'f7a2c41d9e08'
branch_labels = None
depends_on = None

UPGRADE_ERROR = ("the export was on one instance's disk before the upgrade that keeps exports in the database: "
                 "upload it again as a new job (files already loaded count as already_known)")


def upgrade() -> None:
    jobs = sa.table('backfill_jobs', sa.column('status', sa.String), sa.column('error', sa.Text),
                    sa.column('finished_at', sa.DateTime(timezone=True)), sa.column('lease_until', sa.DateTime(timezone=True)))
    op.execute(
        jobs.update().where(jobs.c.status.in_(['queued', 'running']))
        .values(status='failed', error=UPGRADE_ERROR, finished_at=sa.func.current_timestamp(), lease_until=None)
    )
    op.create_table('backfill_chunks',
    sa.Column('job_id', sa.Uuid(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('sealed', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['job_id'], ['backfill_jobs.id'], name=op.f('fk_backfill_chunks_job_id_backfill_jobs')),
    sa.PrimaryKeyConstraint('job_id', 'number', name=op.f('pk_backfill_chunks'))
    )
    with op.batch_alter_table('backfill_jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('chunk_bytes', sa.Integer(), nullable=False, server_default=sa.text('1048576')))
        batch_op.add_column(sa.Column('held_by', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('claims', sa.Integer(), nullable=False, server_default=sa.text('0')))
        batch_op.drop_column('file_path')


def downgrade() -> None:
    with op.batch_alter_table('backfill_jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('file_path', sa.String(length=1000), nullable=False, server_default=''))
        batch_op.drop_column('claims')
        batch_op.drop_column('held_by')
        batch_op.drop_column('chunk_bytes')
    op.drop_table('backfill_chunks')
