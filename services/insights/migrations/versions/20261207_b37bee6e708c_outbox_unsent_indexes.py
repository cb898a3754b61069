"""messaging tables v3: the outbox rows still to send in partial indexes

Revision ID: b37bee6e708c
Revises: 704c9b50111b
Create Date: 2026-12-07 13:15:00
"""

from pacte_common.migration_ops import add_outbox_unsent_indexes, drop_outbox_unsent_indexes

revision = 'b37bee6e708c'
down_revision = '704c9b50111b'
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_outbox_unsent_indexes()


def downgrade() -> None:
    drop_outbox_unsent_indexes()
