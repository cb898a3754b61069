"""messaging tables v3: the outbox rows still to send in partial indexes

Revision ID: 5429a57d26a5
Revises: e2a6c4f1b837
Create Date: 2026-12-07 13:15:00
"""

from pacte_common.migration_ops import add_outbox_unsent_indexes, drop_outbox_unsent_indexes

revision = '5429a57d26a5'
down_revision = 'e2a6c4f1b837'
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_outbox_unsent_indexes()


def downgrade() -> None:
    drop_outbox_unsent_indexes()
