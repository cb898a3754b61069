"""messaging tables v2: failed and discarded outbox rows, broker incarnations

Revision ID: a7e0d1c2b302
Revises: a7e0d1c2b301
Create Date: 2026-12-06 18:50:01
"""

from pacte_common.migration_ops import add_messaging_v2, drop_messaging_v2

revision = 'a7e0d1c2b302'
down_revision = 'a7e0d1c2b301'
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_messaging_v2()


def downgrade() -> None:
    drop_messaging_v2()
