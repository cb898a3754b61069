"""skills passport and action versions: the action's skill blocks and version, the file's prescriber and enrolment time

Revision ID: 5e7c1b2a9d03
Revises: 2b3756afe35a
Create Date: 2026-12-06 23:50:00
"""
import pacte_common.db
import sqlalchemy as sa
from alembic import op

revision = '5e7c1b2a9d03'
down_revision = '2b3756afe35a'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('actions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('skill_blocks', sa.JSON(), nullable=False, server_default='[]'))
        batch_op.add_column(sa.Column('version', sa.Integer(), nullable=True))
    with op.batch_alter_table('dossiers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('prescriber_code', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('enrolled_at', pacte_common.db.UTCDateTime(), nullable=True))
        batch_op.create_index(batch_op.f('ix_dossiers_prescriber_code'), ['prescriber_code'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('dossiers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dossiers_prescriber_code'))
        batch_op.drop_column('enrolled_at')
        batch_op.drop_column('prescriber_code')
    with op.batch_alter_table('actions', schema=None) as batch_op:
        batch_op.drop_column('version')
        batch_op.drop_column('skill_blocks')
