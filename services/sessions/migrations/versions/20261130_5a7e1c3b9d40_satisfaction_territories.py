"""satisfaction (ANOTEA reviews) and employment-training territories

Revision ID: 5a7e1c3b9d40
Revises: c2b8f3c51a22
Create Date: 2026-11-30 13:30:00
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = '5a7e1c3b9d40'
down_revision = 'c2b8f3c51a22'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
