"""action lheo_details

Revision ID: 3c1e9a7d5b20
Revises: 6530723a7b77
Create Date: 2026-11-30 10:05:00
"""
import sqlalchemy as sa
from alembic import op

revision = '3c1e9a7d5b20'
down_revision = '6530723a7b77'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('actions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lheo_details', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('actions', schema=None) as batch_op:
        batch_op.drop_column('lheo_details')
