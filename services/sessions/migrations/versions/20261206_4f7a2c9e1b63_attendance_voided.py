"""attendance_statements: voided_at and voided_reason, for the months an exit or a
cancellation declared later leaves outside the training (kept, counted nowhere)

Revision ID: 4f7a2c9e1b63
Revises: b8ff65975be2
Create Date: 2026-12-06 15:30:00
"""
import pacte_common.db
import sqlalchemy as sa
from alembic import op

revision = '4f7a2c9e1b63'
down_revision = 'b8ff65975be2'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('attendance_statements', schema=None) as batch_op:
        batch_op.add_column(sa.Column('voided_at', pacte_common.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('voided_reason', sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('attendance_statements', schema=None) as batch_op:
        batch_op.drop_column('voided_reason')
        batch_op.drop_column('voided_at')
