"""transition log: the columns every transition log shares (from/to status, trace id, details, widths)

Revision ID: 7e4a1c2d9f63
Revises: 5d1e2a7c9b40
Create Date: 2026-11-30 17:40:00
"""
import sqlalchemy as sa
from alembic import op

revision = '7e4a1c2d9f63'
down_revision = '5d1e2a7c9b40'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('transition_log', schema=None) as batch_op:
        batch_op.alter_column('action', existing_type=sa.String(length=32), type_=sa.String(length=40),
                              existing_nullable=False)
        batch_op.alter_column('from_state', new_column_name='from_status', existing_type=sa.String(length=32),
                              type_=sa.String(length=40), nullable=True, existing_nullable=False)
        batch_op.alter_column('to_state', new_column_name='to_status', existing_type=sa.String(length=32),
                              type_=sa.String(length=40), existing_nullable=False)
        batch_op.add_column(sa.Column('trace_id', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('details', sa.JSON(), nullable=True))
    # A creation had an empty source state; it has none now. Rows logged before had no details.
    op.execute("UPDATE transition_log SET from_status = NULL WHERE from_status = ''")
    op.execute("UPDATE transition_log SET details = '{}' WHERE details IS NULL")
    with op.batch_alter_table('transition_log', schema=None) as batch_op:
        batch_op.alter_column('details', existing_type=sa.JSON(), nullable=False, existing_nullable=True)


def downgrade() -> None:
    op.execute("UPDATE transition_log SET from_status = '' WHERE from_status IS NULL")
    with op.batch_alter_table('transition_log', schema=None) as batch_op:
        batch_op.drop_column('details')
        batch_op.drop_column('trace_id')
        batch_op.alter_column('to_status', new_column_name='to_state', existing_type=sa.String(length=40),
                              type_=sa.String(length=32), existing_nullable=False)
        batch_op.alter_column('from_status', new_column_name='from_state', existing_type=sa.String(length=40),
                              type_=sa.String(length=32), nullable=False, existing_nullable=True)
        batch_op.alter_column('action', existing_type=sa.String(length=40), type_=sa.String(length=32),
                              existing_nullable=False)
