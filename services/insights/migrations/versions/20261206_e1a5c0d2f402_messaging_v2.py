"""messaging tables v2: failed and discarded outbox rows, broker incarnations

Revision ID: e1a5c0d2f402
Revises: e1a5c0d2f401
Create Date: 2026-12-06 22:40:01
"""

from pacte_common.migration_ops import add_messaging_v2, drop_messaging_v2

revision = 'e1a5c0d2f402'
down_revision = 'e1a5c0d2f401'
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_messaging_v2()


def downgrade() -> None:
    drop_messaging_v2()
