"""messaging tables v3: the outbox rows still to send in partial indexes

Revision ID: 27aef4bdb52a
Revises: b3e9d7a41c52
Create Date: 2026-12-07 13:15:00
"""

from pacte_common.migration_ops import add_outbox_unsent_indexes, drop_outbox_unsent_indexes

revision = '27aef4bdb52a'
down_revision = 'b3e9d7a41c52'
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_outbox_unsent_indexes()


def downgrade() -> None:
    drop_outbox_unsent_indexes()
