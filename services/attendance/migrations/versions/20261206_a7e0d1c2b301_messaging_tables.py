"""messaging tables

Revision ID: a7e0d1c2b301
Revises: 
Create Date: 2026-12-06 18:50:00
"""

from pacte_common.migration_ops import create_messaging_tables_v1, drop_messaging_tables_v1

revision = 'a7e0d1c2b301'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_messaging_tables_v1()


def downgrade() -> None:
    drop_messaging_tables_v1()
