"""messaging tables v3: the outbox rows still to send in partial indexes

Revision ID: 24912502f9ca
Revises: f3b8d2a61c45
Create Date: 2026-12-07 13:15:00
"""

from pacte_common.migration_ops import add_outbox_unsent_indexes, drop_outbox_unsent_indexes

revision = '24912502f9ca'
down_revision = 'f3b8d2a61c45'
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_outbox_unsent_indexes()


def downgrade() -> None:
    drop_outbox_unsent_indexes()
