"""results and trajectories: outcomes, interruptions, prescriptions and their steps, the audit of trajectory reads; a file's prescription and cancellation time

Revision ID: 9a4d2f6c8e15
Revises: 5e7c1b2a9d03
Create Date: 2026-12-07 03:20:00
"""
import pacte_common.db
import sqlalchemy as sa
from alembic import op

revision = '9a4d2f6c8e15'
down_revision = '5e7c1b2a9d03'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('dossiers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cancelled_at', pacte_common.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('prescription_id', sa.Uuid(), nullable=True))
    op.create_table(
        'interruptions',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('dossier_id', sa.Uuid(), nullable=False),
        sa.Column('start_date', sa.Date(), nullable=False),
        sa.Column('reason', sa.String(length=32), nullable=False),
        sa.Column('resumption_date', sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_interruptions')),
    )
    op.create_index(op.f('ix_interruptions_dossier_id'), 'interruptions', ['dossier_id'], unique=False)
    op.create_table(
        'outcomes',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('dossier_id', sa.Uuid(), nullable=False),
        sa.Column('person_id', sa.Uuid(), nullable=False),
        sa.Column('horizon_months', sa.Integer(), nullable=False),
        sa.Column('situation', sa.String(length=32), nullable=False),
        sa.Column('observed_on', sa.Date(), nullable=False),
        sa.Column('source', sa.String(length=32), nullable=False),
        sa.Column('job_related_to_training', sa.Boolean(), nullable=True),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_outcomes')),
        sa.UniqueConstraint('dossier_id', 'horizon_months', 'source', name=op.f('uq_outcomes_dossier_id_horizon_months_source')),
    )
    op.create_index(op.f('ix_outcomes_dossier_id'), 'outcomes', ['dossier_id'], unique=False)
    op.create_index(op.f('ix_outcomes_person_id'), 'outcomes', ['person_id'], unique=False)
    op.create_index(op.f('ix_outcomes_observed_on'), 'outcomes', ['observed_on'], unique=False)
    op.create_table(
        'trajectory_prescriptions',
        sa.Column('prescription_id', sa.Uuid(), nullable=False),
        sa.Column('person_id', sa.Uuid(), nullable=False),
        sa.Column('session_id', sa.Uuid(), nullable=False),
        sa.Column('prescriber_kind', sa.String(length=32), nullable=False),
        sa.Column('prescriber_code', sa.String(length=64), nullable=False),
        sa.Column('organisation_siret', sa.String(length=14), nullable=False),
        sa.Column('status', sa.String(length=32), nullable=False),
        sa.Column('previous_prescription_id', sa.Uuid(), nullable=True),
        sa.Column('submitted_at', pacte_common.db.UTCDateTime(), nullable=False),
        sa.Column('updated_at', pacte_common.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('prescription_id', name=op.f('pk_trajectory_prescriptions')),
    )
    op.create_index(op.f('ix_trajectory_prescriptions_person_id'), 'trajectory_prescriptions', ['person_id'], unique=False)
    op.create_index(op.f('ix_trajectory_prescriptions_updated_at'), 'trajectory_prescriptions', ['updated_at'], unique=False)
    op.create_table(
        'trajectory_steps',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('prescription_id', sa.Uuid(), nullable=False),
        sa.Column('status', sa.String(length=32), nullable=False),
        sa.Column('occurred_at', pacte_common.db.UTCDateTime(), nullable=False),
        sa.Column('reason_code', sa.String(length=64), nullable=True),
        sa.Column('detail', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_trajectory_steps')),
        sa.UniqueConstraint('prescription_id', 'status', 'occurred_at', name=op.f('uq_trajectory_steps_prescription_id_status_occurred_at')),
    )
    op.create_index(op.f('ix_trajectory_steps_prescription_id'), 'trajectory_steps', ['prescription_id'], unique=False)
    op.create_table(
        'trajectory_reads',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('person_id', sa.Uuid(), nullable=False),
        sa.Column('reader', sa.String(length=128), nullable=False),
        sa.Column('read_at', pacte_common.db.UTCDateTime(), nullable=False),
        sa.Column('items_shown', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_trajectory_reads')),
    )
    op.create_index(op.f('ix_trajectory_reads_person_id'), 'trajectory_reads', ['person_id'], unique=False)
    op.create_index(op.f('ix_trajectory_reads_read_at'), 'trajectory_reads', ['read_at'], unique=False)


def downgrade() -> None:
    op.drop_table('trajectory_reads')
    op.drop_table('trajectory_steps')
    op.drop_table('trajectory_prescriptions')
    op.drop_table('outcomes')
    op.drop_table('interruptions')
    with op.batch_alter_table('dossiers', schema=None) as batch_op:
        batch_op.drop_column('prescription_id')
        batch_op.drop_column('cancelled_at')
