"""messaging tables v2: failed and discarded outbox rows, broker incarnations

Revision ID: c4da15e73c44
Revises: 9f4d221dbd32
Create Date: 2026-11-30 10:30:00
"""

from pacte_common.migration_ops import add_messaging_v2, drop_messaging_v2

revision = 'c4da15e73c44'
down_revision = '9f4d221dbd32'
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_messaging_v2()


def downgrade() -> None:
    drop_messaging_v2()
