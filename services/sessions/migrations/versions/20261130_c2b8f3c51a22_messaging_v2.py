"""messaging tables v2: failed and discarded outbox rows, broker incarnations

Revision ID: c2b8f3c51a22
Revises: 3c1e9a7d5b20
Create Date: 2026-11-30 10:30:00
"""

from pacte_common.migration_ops import add_messaging_v2, drop_messaging_v2

revision = 'c2b8f3c51a22'
down_revision = '3c1e9a7d5b20'
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_messaging_v2()


def downgrade() -> None:
    drop_messaging_v2()
