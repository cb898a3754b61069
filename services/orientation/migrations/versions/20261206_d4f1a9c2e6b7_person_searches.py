"""person_searches: the audit of the Region's searches of a person by name and birth date

Revision ID: d4f1a9c2e6b7
Revises: bb78c81ef1b4
Create Date: 2026-12-06 22:40:00
"""
import pacte_common.db
import sqlalchemy as sa
from alembic import op

revision = 'd4f1a9c2e6b7'
down_revision = 'bb78c81ef1b4'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('person_searches',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('at', pacte_common.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('last_name', sa.String(length=200), nullable=False),
    sa.Column('birth_date', sa.Date(), nullable=False),
    sa.Column('found', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_person_searches'))
    )
    with op.batch_alter_table('person_searches', schema=None) as batch_op:
        batch_op.create_index('ix_person_searches_at_id', ['at', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('person_searches', schema=None) as batch_op:
        batch_op.drop_index('ix_person_searches_at_id')
    op.drop_table('person_searches')
