"""Scheduled jobs: the retention purge and the LHEO feed pulls run once per interval across the service's instances, not at every
start of every instance (pacte_common.schedule; docs/scaling.md, "Scheduled jobs")

Revision ID: 7c2e4a9b1d63
Revises: 5e9b3d7a1c42
Create Date: 2026-12-07 06:40:00
"""
from pacte_common.migration_ops import add_scheduled_jobs, drop_scheduled_jobs

revision = '7c2e4a9b1d63'
down_revision = '5e9b3d7a1c42'
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_scheduled_jobs()


def downgrade() -> None:
    drop_scheduled_jobs()
