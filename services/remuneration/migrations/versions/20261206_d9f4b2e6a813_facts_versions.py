"""facts versions: per file and month, remembered by each statement, so runs review only what changed

Revision ID: d9f4b2e6a813
Revises: c5e8a1f3d702
Create Date: 2026-12-06 22:30:00
"""
import sqlalchemy as sa
from alembic import op

revision = 'd9f4b2e6a813'
down_revision = 'c5e8a1f3d702'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('remuneration_files', sa.Column('facts_version', sa.Integer(), server_default='0', nullable=False))
    op.create_table(
        'month_facts',
        sa.Column('dossier_id', sa.Uuid(), nullable=False),
        sa.Column('month', sa.String(length=7), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('dossier_id', 'month', name=op.f('pk_month_facts')),
    )
    op.add_column('runs', sa.Column('months_reviewed', sa.Integer(), server_default='0', nullable=False))
    with op.batch_alter_table('statements') as batch:
        batch.add_column(sa.Column('facts_version', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('month_facts', sa.JSON(), nullable=True))
        batch.add_column(sa.Column('rules_digest', sa.String(length=32), nullable=True))
        batch.add_column(sa.Column('reviewed_months', sa.JSON(), nullable=True))
    # Attendance already received counts as each month's first version.
    op.execute(
        "INSERT INTO month_facts (dossier_id, month, version) "
        "SELECT dossier_id, month, count(*) FROM attendance_statements GROUP BY dossier_id, month"
    )


def downgrade() -> None:
    with op.batch_alter_table('statements') as batch:
        for column in ('reviewed_months', 'rules_digest', 'month_facts', 'facts_version'):
            batch.drop_column(column)
    op.drop_column('runs', 'months_reviewed')
    op.drop_table('month_facts')
    op.drop_column('remuneration_files', 'facts_version')
