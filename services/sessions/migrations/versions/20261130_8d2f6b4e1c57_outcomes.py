"""post-training outcomes (3, 6, 12 months) and trajectory read model

Revision ID: 8d2f6b4e1c57
Revises: 5a7e1c3b9d40
Create Date: 2026-11-30 13:31:00
"""
import pacte_common.db
import sqlalchemy as sa
from alembic import op

revision = '8d2f6b4e1c57'
down_revision = '5a7e1c3b9d40'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('outcome_imports',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('media_type', sa.String(length=64), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('counts', sa.JSON(), nullable=False),
    sa.Column('received_by', sa.String(length=128), nullable=False),
    sa.Column('received_at', pacte_common.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outcome_imports'))
    )
    with op.batch_alter_table('outcome_imports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outcome_imports_fingerprint'), ['fingerprint'], unique=False)

    op.create_table('outcomes',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('dossier_id', sa.Uuid(), nullable=False),
    sa.Column('person_id', sa.Uuid(), nullable=False),
    sa.Column('horizon_months', sa.Integer(), nullable=False),
    sa.Column('situation', sa.String(length=32), nullable=False),
    sa.Column('observed_on', sa.Date(), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('job_related_to_training', sa.Boolean(), nullable=True),
    sa.Column('import_id', sa.Uuid(), nullable=True),
    sa.Column('recorded_by', sa.String(length=128), nullable=False),
    sa.Column('recorded_at', pacte_common.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['dossier_id'], ['dossiers.id'], name=op.f('fk_outcomes_dossier_id_dossiers')),
    sa.ForeignKeyConstraint(['import_id'], ['outcome_imports.id'], name=op.f('fk_outcomes_import_id_outcome_imports')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outcomes')),
    sa.UniqueConstraint('dossier_id', 'horizon_months', 'source', name=op.f('uq_outcomes_dossier_id_horizon_months_source'))
    )
    with op.batch_alter_table('outcomes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outcomes_dossier_id'), ['dossier_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_outcomes_person_id'), ['person_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_outcomes_observed_on'), ['observed_on'], unique=False)

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

    op.create_table('trajectory_reads',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('person_id', sa.Uuid(), nullable=False),
    sa.Column('reader', sa.String(length=128), nullable=False),
    sa.Column('read_at', pacte_common.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('items_shown', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_trajectory_reads'))
    )
    with op.batch_alter_table('trajectory_reads', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_trajectory_reads_person_id'), ['person_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_trajectory_reads_read_at'), ['read_at'], unique=False)


def downgrade() -> None:
    op.drop_table('trajectory_reads')
    op.drop_table('trajectory_steps')
    op.drop_table('trajectory_prescriptions')
    op.drop_table('outcomes')
    op.drop_table('outcome_imports')
