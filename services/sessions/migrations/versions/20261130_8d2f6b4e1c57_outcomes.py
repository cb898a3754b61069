"""post-training outcomes (3, 6, 12 months) and trajectory read model

Revision ID: 8d2f6b4e1c57
Revises: 5a7e1c3b9d40
Create Date: 2026-11-30 13:31:00
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = '8d2f6b4e1c57'
down_revision = '5a7e1c3b9d40'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
