"""Scheduled jobs: the retention purge run once per interval across the service's instances, not at every
start of every instance (pacte_common.schedule; docs/scaling.md, "Scheduled jobs")

Revision ID: 8d3f5b0c2e74
Revises: 9a4d2f6c8e15
Create Date: 2026-12-07 06:40:00
"""
from pacte_common.migration_ops import add_scheduled_jobs, drop_scheduled_jobs

revision = '8d3f5b0c2e74'
down_revision = '9a4d2f6c8e15'
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_scheduled_jobs()


def downgrade() -> None:
    drop_scheduled_jobs()
