"""remuneration files: France Travail's answer to the entry certificate (unemployment benefit)

Revision ID: b7e3f1a2c4d6
Revises: a4d7e2c91b05
Create Date: 2026-12-06 19:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = 'b7e3f1a2c4d6'
down_revision = 'a4d7e2c91b05'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('remuneration_files', schema=None) as batch_op:
        batch_op.add_column(sa.Column('france_travail_answer', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('remuneration_files', schema=None) as batch_op:
        batch_op.drop_column('france_travail_answer')
