"""pay ledger: declaration dates of facts, the inputs of each adjustment, the base of each draft run

Revision ID: 5d1e2a7c9b40
Revises: c3c904d62b33
Create Date: 2026-11-30 11:00:00
"""
import sqlalchemy as sa
from alembic import op
from pacte_common.db import UTCDateTime

revision = '5d1e2a7c9b40'
down_revision = 'c3c904d62b33'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('remuneration_files', schema=None) as batch_op:
        batch_op.add_column(sa.Column('exit_declared_at', UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('cancelled_at', UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table('interruptions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('declared_at', UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('resumption_declared_at', UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('based_on_month', sa.String(length=7), nullable=True))
    with op.batch_alter_table('adjustments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('inputs', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('adjustments', schema=None) as batch_op:
        batch_op.drop_column('inputs')
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.drop_column('based_on_month')
    with op.batch_alter_table('interruptions', schema=None) as batch_op:
        batch_op.drop_column('resumption_declared_at')
        batch_op.drop_column('declared_at')
    with op.batch_alter_table('remuneration_files', schema=None) as batch_op:
        batch_op.drop_column('cancelled_at')
        batch_op.drop_column('exit_declared_at')
