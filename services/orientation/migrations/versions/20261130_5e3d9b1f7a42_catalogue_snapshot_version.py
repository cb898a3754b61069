"""catalogue read model: version of the last snapshot applied

Revision ID: 5e3d9b1f7a42
Revises: c1a7e2b40f11
Create Date: 2026-11-30 10:05:00
"""
import sqlalchemy as sa
from alembic import op

revision = '5e3d9b1f7a42'
down_revision = 'c1a7e2b40f11'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('catalogue_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('snapshot_version', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('catalogue_sessions', schema=None) as batch_op:
        batch_op.drop_column('snapshot_version')
