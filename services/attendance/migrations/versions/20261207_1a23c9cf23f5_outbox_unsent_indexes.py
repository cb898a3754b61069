"""messaging tables v3: the outbox rows still to send in partial indexes

Revision ID: 1a23c9cf23f5
Revises: a7e0d1c2b303
Create Date: 2026-12-07 13:15:00
"""

from pacte_common.migration_ops import add_outbox_unsent_indexes, drop_outbox_unsent_indexes

revision = '1a23c9cf23f5'
down_revision = 'a7e0d1c2b303'
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_outbox_unsent_indexes()


def downgrade() -> None:
    drop_outbox_unsent_indexes()
