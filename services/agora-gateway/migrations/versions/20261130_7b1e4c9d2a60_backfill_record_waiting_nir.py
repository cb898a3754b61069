"""back-filled files without a NIR keep their bulk record (sealed) until it comes

Revision ID: 7b1e4c9d2a60
Revises: c4da15e73c44
Create Date: 2026-11-30 10:50:00
"""
import sqlalchemy as sa
from alembic import op

revision = '7b1e4c9d2a60'
down_revision = 'c4da15e73c44'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('agora_dossiers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('backfill_record_encrypted', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('agora_dossiers', schema=None) as batch_op:
        batch_op.drop_column('backfill_record_encrypted')
