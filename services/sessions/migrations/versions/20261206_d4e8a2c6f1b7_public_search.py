"""Public search: an index row per action (text, French stems, training place, coordinates) and
its FORMACODE / NSF / ROME codes; full text by a GIN index on to_tsvector('french', words) on
PostgreSQL, an FTS5 table over the stems on SQLite; filled from the actions already there; the
sessions' (start date, id) index; the ANOTEA reviews' published comment

Revision ID: d4e8a2c6f1b7
Revises: b1c4e7a2d905
Create Date: 2026-12-06 19:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = 'd4e8a2c6f1b7'
down_revision = 'b1c4e7a2d905'
branch_labels = None
depends_on = None


def upgrade() -> None:
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

    with op.batch_alter_table('satisfaction_reviews', schema=None) as batch_op:
        batch_op.add_column(sa.Column('comment', sa.Text(), nullable=True))

    with op.batch_alter_table('training_sessions', schema=None) as batch_op:
        batch_op.create_index('ix_training_sessions_start_date_id', ['start_date', 'id'], unique=False)

    bind = op.get_bind()
    if bind.dialect.name == 'postgresql':
        op.execute("CREATE INDEX ix_public_offers_words_fts ON public_offers USING gin (to_tsvector('french'::regconfig, words))")
    else:
        op.execute("CREATE VIRTUAL TABLE public_offers_fts USING fts5(stems, tokenize = 'unicode61 remove_diacritics 2')")
    _fill(bind)


def _fill(bind) -> None:
    """Filled the index rows of the actions already there. The search has moved to insights and
    migration ad2d38b9e26b drops these tables: nothing to fill on the way there."""


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("DROP INDEX ix_public_offers_words_fts")
    else:
        op.execute("DROP TABLE public_offers_fts")
    with op.batch_alter_table('training_sessions', schema=None) as batch_op:
        batch_op.drop_index('ix_training_sessions_start_date_id')
    with op.batch_alter_table('satisfaction_reviews', schema=None) as batch_op:
        batch_op.drop_column('comment')
    with op.batch_alter_table('public_offer_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_public_offer_codes_action_id'))
    op.drop_table('public_offer_codes')
    with op.batch_alter_table('public_offers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_public_offers_postcode'))
        batch_op.drop_index(batch_op.f('ix_public_offers_latitude'))
        batch_op.drop_index(batch_op.f('ix_public_offers_insee'))
    op.drop_table('public_offers')
