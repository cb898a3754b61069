"""trajectories moved to insights: drop the prescriptions read model

Insights builds the trajectories from the events (docs/insights.md), orientation's prescriptions
replayed from its topic. The audit of trajectory reads stays, as an archive of the reads sessions
served, emptied by its retention purge (docs/outcomes.md); insights records the reads from now on.
The outcomes stay: they are the trainee's file's facts, and the public search reads them.

Revision ID: 3b9e5d1f7a26
Revises: d4e8a2c6f1b7
Create Date: 2026-12-07 03:40:00
"""
import pacte_common.db
import sqlalchemy as sa
from alembic import op

revision = '3b9e5d1f7a26'
down_revision = 'd4e8a2c6f1b7'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_table('trajectory_steps')
    op.drop_table('trajectory_prescriptions')


def downgrade() -> None:
    op.create_table('trajectory_prescriptions',
    sa.Column('prescription_id', sa.Uuid(), nullable=False),
    sa.Column('person_id', sa.Uuid(), nullable=False),
    sa.Column('session_id', sa.Uuid(), nullable=False),
    sa.Column('prescriber_kind', sa.String(length=32), nullable=False),
    sa.Column('prescriber_code', sa.String(length=64), nullable=False),
    sa.Column('organisation_siret', sa.String(length=14), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('previous_prescription_id', sa.Uuid(), nullable=True),
    sa.Column('submitted_at', pacte_common.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', pacte_common.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('prescription_id', name=op.f('pk_trajectory_prescriptions'))
    )
    with op.batch_alter_table('trajectory_prescriptions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_trajectory_prescriptions_person_id'), ['person_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_trajectory_prescriptions_updated_at'), ['updated_at'], unique=False)

    op.create_table('trajectory_steps',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('prescription_id', sa.Uuid(), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('occurred_at', pacte_common.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('reason_code', sa.String(length=64), nullable=True),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['prescription_id'], ['trajectory_prescriptions.prescription_id'], name=op.f('fk_trajectory_steps_prescription_id_trajectory_prescriptions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_trajectory_steps')),
    sa.UniqueConstraint('prescription_id', 'status', 'occurred_at', name=op.f('uq_trajectory_steps_prescription_id_status_occurred_at'))
    )
    with op.batch_alter_table('trajectory_steps', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_trajectory_steps_prescription_id'), ['prescription_id'], unique=False)
