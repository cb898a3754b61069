"""messaging tables v3: the outbox rows still to send in partial indexes

Revision ID: 4ca54f811c2c
Revises: ad2d38b9e26b
Create Date: 2026-12-07 13:15:00
"""

from pacte_common.migration_ops import add_outbox_unsent_indexes, drop_outbox_unsent_indexes

revision = '4ca54f811c2c'
down_revision = 'ad2d38b9e26b'
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_outbox_unsent_indexes()


def downgrade() -> None:
    drop_outbox_unsent_indexes()
