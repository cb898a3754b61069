"""messaging tables v2: failed and discarded outbox rows, broker incarnations

Revision ID: c1a7e2b40f11
Revises: 69b2bc5886d2
Create Date: 2026-11-30 10:30:00
"""

from pacte_common.migration_ops import add_messaging_v2, drop_messaging_v2

revision = 'c1a7e2b40f11'
down_revision = '69b2bc5886d2'
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_messaging_v2()


def downgrade() -> None:
    drop_messaging_v2()
