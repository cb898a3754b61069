"""attendance statements: their source (manual, or built from the signed sheets)

Revision ID: b1c4e7a2d905
Revises: 7c3e5a1f9b24
Create Date: 2026-12-06 19:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = 'b1c4e7a2d905'
down_revision = '7c3e5a1f9b24'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('attendance_statements', schema=None) as batch_op:
        batch_op.add_column(sa.Column('source', sa.String(length=16), server_default='manual', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('attendance_statements', schema=None) as batch_op:
        batch_op.drop_column('source')
