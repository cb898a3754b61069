"""france travail flows: ft_files, ft_flows, ft_flow_transitions (the outbound engine's second queue)

Revision ID: f7a2c41d9e08
Revises: e3a91c5f0b27
Create Date: 2026-12-06 19:00:00
"""
import pacte_common.db
import sqlalchemy as sa
from alembic import op

revision = 'f7a2c41d9e08'
down_revision = 'e3a91c5f0b27'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('ft_files',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('person_id', sa.Uuid(), nullable=True),
    sa.Column('identifier_encrypted', sa.Text(), nullable=True),
    sa.Column('identifier_masked', sa.String(length=16), nullable=True),
    sa.Column('has_identifier', sa.Boolean(), nullable=False),
    sa.Column('snapshot', sa.JSON(), nullable=False),
    sa.Column('snapshot_version', sa.Integer(), nullable=False),
    sa.Column('planned', sa.JSON(), nullable=False),
    sa.Column('next_sequence', sa.Integer(), nullable=False),
    sa.Column('traceparent', sa.String(length=55), nullable=True),
    sa.Column('created_at', pacte_common.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', pacte_common.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ft_files'))
    )
    with op.batch_alter_table('ft_files', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ft_files_has_identifier'), ['has_identifier'], unique=False)

    op.create_table('ft_flows',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('dossier_id', sa.Uuid(), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('operation', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('request_encrypted', sa.Text(), nullable=True),
    sa.Column('event_type', sa.String(length=255), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('failed_claims', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', pacte_common.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('claimed_until', pacte_common.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('rejection_code', sa.String(length=64), nullable=True),
    sa.Column('rejection_message', sa.Text(), nullable=True),
    sa.Column('answer', sa.JSON(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', pacte_common.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', pacte_common.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('first_sent_at', pacte_common.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('answered_at', pacte_common.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['dossier_id'], ['ft_files.id'], name=op.f('fk_ft_flows_dossier_id_ft_files')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ft_flows')),
    sa.UniqueConstraint('dossier_id', 'sequence', name=op.f('uq_ft_flows_dossier_id_sequence'))
    )
    with op.batch_alter_table('ft_flows', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ft_flows_dossier_id'), ['dossier_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ft_flows_status'), ['status'], unique=False)

    op.create_table('ft_flow_transitions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('flow_id', sa.Uuid(), nullable=False),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('from_status', sa.String(length=40), nullable=True),
    sa.Column('to_status', sa.String(length=40), nullable=False),
    sa.Column('actor', sa.String(length=255), nullable=False),
    sa.Column('at', pacte_common.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('trace_id', sa.String(length=32), nullable=True),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['flow_id'], ['ft_flows.id'], name=op.f('fk_ft_flow_transitions_flow_id_ft_flows')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ft_flow_transitions'))
    )
    with op.batch_alter_table('ft_flow_transitions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ft_flow_transitions_flow_id'), ['flow_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('ft_flow_transitions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ft_flow_transitions_flow_id'))
    op.drop_table('ft_flow_transitions')
    with op.batch_alter_table('ft_flows', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ft_flows_status'))
        batch_op.drop_index(batch_op.f('ix_ft_flows_dossier_id'))
    op.drop_table('ft_flows')
    with op.batch_alter_table('ft_files', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ft_files_has_identifier'))
    op.drop_table('ft_files')
