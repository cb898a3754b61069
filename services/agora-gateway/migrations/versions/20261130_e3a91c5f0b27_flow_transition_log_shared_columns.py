"""flow transition log: the columns every transition log shares (trace id, details, widths)

Revision ID: e3a91c5f0b27
Revises: 7b1e4c9d2a60
Create Date: 2026-11-30 18:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = 'e3a91c5f0b27'
down_revision = '7b1e4c9d2a60'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('agora_flow_transitions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('trace_id', sa.String(length=32), nullable=True))
        # existing rows get an empty object; the model gives new rows theirs (no server default kept)
        batch_op.add_column(sa.Column('details', sa.JSON(), nullable=False, server_default=sa.text("'{}'")))
        batch_op.alter_column('action', existing_type=sa.String(length=20), type_=sa.String(length=40), existing_nullable=False)
        batch_op.alter_column('from_status', existing_type=sa.String(length=20), type_=sa.String(length=40), existing_nullable=True)
        batch_op.alter_column('to_status', existing_type=sa.String(length=20), type_=sa.String(length=40), existing_nullable=False)
    with op.batch_alter_table('agora_flow_transitions', schema=None) as batch_op:
        batch_op.alter_column('details', existing_type=sa.JSON(), server_default=None, existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table('agora_flow_transitions', schema=None) as batch_op:
        batch_op.alter_column('to_status', existing_type=sa.String(length=40), type_=sa.String(length=20), existing_nullable=False)
        batch_op.alter_column('from_status', existing_type=sa.String(length=40), type_=sa.String(length=20), existing_nullable=True)
        batch_op.alter_column('action', existing_type=sa.String(length=40), type_=sa.String(length=20), existing_nullable=False)
        batch_op.drop_column('details')
        batch_op.drop_column('trace_id')
