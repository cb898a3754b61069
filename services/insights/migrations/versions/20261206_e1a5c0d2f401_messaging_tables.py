"""messaging tables

Revision ID: e1a5c0d2f401
Revises: 
Create Date: 2026-12-06 22:40:00
"""

from pacte_common.migration_ops import create_messaging_tables_v1, drop_messaging_tables_v1

revision = 'e1a5c0d2f401'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_messaging_tables_v1()


def downgrade() -> None:
    drop_messaging_tables_v1()
