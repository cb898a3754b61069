"""messaging tables v2: failed and discarded outbox rows, broker incarnations

Revision ID: c3c904d62b33
Revises: b8f66593ff67
Create Date: 2026-11-30 10:30:00
"""

from pacte_common.migration_ops import add_messaging_v2, drop_messaging_v2

revision = 'c3c904d62b33'
down_revision = 'b8f66593ff67'
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_messaging_v2()


def downgrade() -> None:
    drop_messaging_v2()
