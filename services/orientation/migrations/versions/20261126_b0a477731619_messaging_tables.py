"""messaging tables

Revision ID: b0a477731619
Revises: 
Create Date: 2026-11-26 13:08:03.293472
"""

from pacte_common.migration_ops import create_messaging_tables_v1, drop_messaging_tables_v1

revision = 'b0a477731619'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_messaging_tables_v1()


def downgrade() -> None:
    drop_messaging_tables_v1()
