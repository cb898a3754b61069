"""The public search of the offer moved to insights (docs/public-search.md, "The move"), which
builds its own index from the catalogue events: its index rows (public_offers, their codes, the
SQLite FTS5 table or PostgreSQL's GIN index) and the sessions' (start date, id) index go. The
reviews' published comment stays: it is the import's data, published to insights with each review

Revision ID: ad2d38b9e26b
Revises: 7c2e4a9b1d63
Create Date: 2026-12-07 09:05:00
"""
import sqlalchemy as sa
from alembic import op

revision = 'ad2d38b9e26b'
down_revision = '7c2e4a9b1d63'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("DROP INDEX IF EXISTS ix_public_offers_words_fts")
    else:
        op.execute("DROP TABLE IF EXISTS public_offers_fts")
    with op.batch_alter_table('training_sessions', schema=None) as batch_op:
        batch_op.drop_index('ix_training_sessions_start_date_id')
    with op.batch_alter_table('public_offer_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_public_offer_codes_action_id'))
    op.drop_table('public_offer_codes')
    with op.batch_alter_table('public_offers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_public_offers_postcode'))
        batch_op.drop_index(batch_op.f('ix_public_offers_latitude'))
        batch_op.drop_index(batch_op.f('ix_public_offers_insee'))
    op.drop_table('public_offers')


def downgrade() -> None:
    """The tables come back empty: the search is insights' (an older sessions would fill them at its next write of each action)."""
    op.create_table('public_offers',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('action_id', sa.Uuid(), nullable=False),
    sa.Column('words', sa.Text(), nullable=False),
    sa.Column('stems', sa.Text(), nullable=False),
    sa.Column('postcode', sa.String(length=10), nullable=True),
    sa.Column('insee', sa.String(length=5), nullable=True),
    sa.Column('city', sa.String(length=255), nullable=True),
    sa.Column('latitude', sa.Float(), nullable=True),
    sa.Column('longitude', sa.Float(), nullable=True),
    sa.ForeignKeyConstraint(['action_id'], ['actions.id'], name=op.f('fk_public_offers_action_id_actions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_public_offers')),
    sa.UniqueConstraint('action_id', name=op.f('uq_public_offers_action_id'))
    )
    with op.batch_alter_table('public_offers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_public_offers_insee'), ['insee'], unique=False)
        batch_op.create_index(batch_op.f('ix_public_offers_latitude'), ['latitude'], unique=False)
        batch_op.create_index(batch_op.f('ix_public_offers_postcode'), ['postcode'], unique=False)
    op.create_table('public_offer_codes',
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('action_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['action_id'], ['actions.id'], name=op.f('fk_public_offer_codes_action_id_actions')),
    sa.PrimaryKeyConstraint('kind', 'code', 'action_id', name=op.f('pk_public_offer_codes'))
    )
    with op.batch_alter_table('public_offer_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_public_offer_codes_action_id'), ['action_id'], unique=False)
    with op.batch_alter_table('training_sessions', schema=None) as batch_op:
        batch_op.create_index('ix_training_sessions_start_date_id', ['start_date', 'id'], unique=False)
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("CREATE INDEX ix_public_offers_words_fts ON public_offers USING gin (to_tsvector('french'::regconfig, words))")
    else:
        op.execute("CREATE VIRTUAL TABLE public_offers_fts USING fts5(stems, tokenize = 'unicode61 remove_diacritics 2')")
