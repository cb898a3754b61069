"""dossier transition log: the columns every transition log shares (trace id, details, widths)

Revision ID: 9f4b2d7e6a13
Revises: 8d2f6b4e1c57
Create Date: 2026-11-30 17:45:00
"""
import sqlalchemy as sa
from alembic import op

revision = '9f4b2d7e6a13'
down_revision = '8d2f6b4e1c57'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('dossier_transitions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('trace_id', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('details', sa.JSON(), nullable=True))
        batch_op.alter_column('action', existing_type=sa.String(length=16), type_=sa.String(length=40), existing_nullable=False)
        batch_op.alter_column('from_status', existing_type=sa.String(length=16), type_=sa.String(length=40), existing_nullable=True)
        batch_op.alter_column('to_status', existing_type=sa.String(length=16), type_=sa.String(length=40), existing_nullable=False)
        batch_op.alter_column('actor', existing_type=sa.String(length=128), type_=sa.String(length=255), existing_nullable=False)
    # The rows logged before have no details: an empty object, as the log writes from now on.
    op.execute("UPDATE dossier_transitions SET details = '{}' WHERE details IS NULL")
    with op.batch_alter_table('dossier_transitions', schema=None) as batch_op:
        batch_op.alter_column('details', existing_type=sa.JSON(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table('dossier_transitions', schema=None) as batch_op:
        batch_op.alter_column('actor', existing_type=sa.String(length=255), type_=sa.String(length=128), existing_nullable=False)
        batch_op.alter_column('to_status', existing_type=sa.String(length=40), type_=sa.String(length=16), existing_nullable=False)
        batch_op.alter_column('from_status', existing_type=sa.String(length=40), type_=sa.String(length=16), existing_nullable=True)
        batch_op.alter_column('action', existing_type=sa.String(length=40), type_=sa.String(length=16), existing_nullable=False)
        batch_op.drop_column('details')
        batch_op.drop_column('trace_id')
