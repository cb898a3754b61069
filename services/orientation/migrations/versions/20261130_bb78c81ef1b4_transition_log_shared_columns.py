"""prescription transition log: the columns every transition log shares (trace id, widths)

Revision ID: bb78c81ef1b4
Revises: 5e3d9b1f7a42
Create Date: 2026-11-30 17:30:00
"""
import sqlalchemy as sa
from alembic import op

revision = 'bb78c81ef1b4'
down_revision = '5e3d9b1f7a42'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('prescription_transitions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('trace_id', sa.String(length=32), nullable=True))
        batch_op.alter_column('action', existing_type=sa.String(length=30), type_=sa.String(length=40), existing_nullable=False)
        batch_op.alter_column('from_status', existing_type=sa.String(length=30), type_=sa.String(length=40), existing_nullable=True)
        batch_op.alter_column('to_status', existing_type=sa.String(length=30), type_=sa.String(length=40), existing_nullable=False)
        batch_op.alter_column('actor', existing_type=sa.String(length=200), type_=sa.String(length=255), existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table('prescription_transitions', schema=None) as batch_op:
        batch_op.alter_column('actor', existing_type=sa.String(length=255), type_=sa.String(length=200), existing_nullable=False)
        batch_op.alter_column('to_status', existing_type=sa.String(length=40), type_=sa.String(length=30), existing_nullable=False)
        batch_op.alter_column('from_status', existing_type=sa.String(length=40), type_=sa.String(length=30), existing_nullable=True)
        batch_op.alter_column('action', existing_type=sa.String(length=40), type_=sa.String(length=30), existing_nullable=False)
        batch_op.drop_column('trace_id')
