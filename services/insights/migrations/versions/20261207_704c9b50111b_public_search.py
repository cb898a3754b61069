"""Public search of the offer, moved from sessions: an index row per action (text, French stems,
training place, what a training's page shows) and its FORMACODE / NSF / ROME codes; full text by
a GIN index on to_tsvector('french', words) on PostgreSQL, an FTS5 table over the stems on
SQLite; the sessions' (start date, id) index, places not known, permanent entries and
information meetings; the actions' distance learning; the reviews' published comment and the
covering index of an organisation's marks. The actions already held get their row from their
title and FORMACODE: the rest comes with their next snapshot (docs/public-search.md, "The move")

Revision ID: 704c9b50111b
Revises: 8d3f5b0c2e74
Create Date: 2026-12-07 09:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '704c9b50111b'
down_revision = '8d3f5b0c2e74'
branch_labels = None
depends_on = None

MARKS = ['overall', 'accueil', 'contenu', 'equipe_formateurs', 'moyens_materiels', 'accompagnement']


def upgrade() -> None:
    op.create_table(
        'public_offers',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('action_id', sa.Uuid(), nullable=False),
        sa.Column('words', sa.Text(), nullable=False),
        sa.Column('stems', sa.Text(), nullable=False),
        sa.Column('postcode', sa.String(length=10), nullable=True),
        sa.Column('insee', sa.String(length=5), nullable=True),
        sa.Column('city', sa.String(length=255), nullable=True),
        sa.Column('latitude', sa.Float(), nullable=True),
        sa.Column('longitude', sa.Float(), nullable=True),
        sa.Column('objectives', sa.Text(), nullable=True),
        sa.Column('expected_results', sa.Text(), nullable=True),
        sa.Column('content', sa.Text(), nullable=True),
        sa.Column('organisation_name', sa.String(length=500), nullable=True),
        sa.Column('codes', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_public_offers')),
        sa.UniqueConstraint('action_id', name=op.f('uq_public_offers_action_id')),
    )
    with op.batch_alter_table('public_offers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_public_offers_insee'), ['insee'], unique=False)
        batch_op.create_index(batch_op.f('ix_public_offers_latitude'), ['latitude'], unique=False)
        batch_op.create_index(batch_op.f('ix_public_offers_postcode'), ['postcode'], unique=False)
    op.create_table(
        'public_offer_codes',
        sa.Column('kind', sa.String(length=10), nullable=False),
        sa.Column('code', sa.String(length=16), nullable=False),
        sa.Column('action_id', sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint('kind', 'code', 'action_id', name=op.f('pk_public_offer_codes')),
    )
    with op.batch_alter_table('public_offer_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_public_offer_codes_action_id'), ['action_id'], unique=False)

    with op.batch_alter_table('actions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('distance_learning', sa.Boolean(), server_default=sa.false(), nullable=False))
    with op.batch_alter_table('training_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('places_unknown', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('permanent_entries', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('information_meetings', sa.JSON(), nullable=True))
        batch_op.create_index('ix_training_sessions_start_date_id', ['start_date', 'id'], unique=False)
    with op.batch_alter_table('satisfaction_reviews', schema=None) as batch_op:
        batch_op.add_column(sa.Column('comment', sa.Text(), nullable=True))
        batch_op.create_index('ix_satisfaction_reviews_organisation_marks', ['organisation_siret', 'action_id', *MARKS], unique=False)

    bind = op.get_bind()
    if bind.dialect.name == 'postgresql':
        op.execute("CREATE INDEX ix_public_offers_words_fts ON public_offers USING gin (to_tsvector('french'::regconfig, words))")
    else:
        op.execute("CREATE VIRTUAL TABLE public_offers_fts USING fts5(stems, tokenize = 'unicode61 remove_diacritics 2')")
    _fill(bind)


def _fill(bind) -> None:
    """A row for each action already held, from its title and FORMACODE (what its snapshots gave
    before they carried the offer's details)."""
    from insights.domain.public_search import stems

    actions = sa.table('actions', sa.column('id', sa.Uuid()), sa.column('title', sa.String()), sa.column('formacode', sa.String()))
    offers = sa.table('public_offers', sa.column('id', sa.Integer()), sa.column('action_id', sa.Uuid()), sa.column('words', sa.Text()),
                      sa.column('stems', sa.Text()), sa.column('codes', sa.JSON()))
    codes = sa.table('public_offer_codes', sa.column('kind', sa.String()), sa.column('code', sa.String()), sa.column('action_id', sa.Uuid()))
    for action_id, title, formacode in bind.execute(sa.select(actions.c.id, actions.c.title, actions.c.formacode).order_by(actions.c.id)):
        words = title or ""
        stemmed = " ".join(stems(words))
        offer_id = bind.execute(offers.insert().values(action_id=action_id, words=words, stems=stemmed,
                                                       codes={"formacode": [formacode] if formacode else [], "nsf": [], "rome": []})
                                .returning(offers.c.id)).scalar_one()
        if formacode:
            bind.execute(codes.insert().values(kind="formacode", code=formacode, action_id=action_id))
        if bind.dialect.name == 'sqlite':
            bind.execute(sa.text("INSERT INTO public_offers_fts (rowid, stems) VALUES (:id, :stems)"), {"id": offer_id, "stems": stemmed})


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("DROP INDEX ix_public_offers_words_fts")
    else:
        op.execute("DROP TABLE public_offers_fts")
    with op.batch_alter_table('satisfaction_reviews', schema=None) as batch_op:
        batch_op.drop_index('ix_satisfaction_reviews_organisation_marks')
        batch_op.drop_column('comment')
    with op.batch_alter_table('training_sessions', schema=None) as batch_op:
        batch_op.drop_index('ix_training_sessions_start_date_id')
        batch_op.drop_column('information_meetings')
        batch_op.drop_column('permanent_entries')
        batch_op.drop_column('places_unknown')
    with op.batch_alter_table('actions', schema=None) as batch_op:
        batch_op.drop_column('distance_learning')
    with op.batch_alter_table('public_offer_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_public_offer_codes_action_id'))
    op.drop_table('public_offer_codes')
    with op.batch_alter_table('public_offers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_public_offers_postcode'))
        batch_op.drop_index(batch_op.f('ix_public_offers_latitude'))
        batch_op.drop_index(batch_op.f('ix_public_offers_insee'))
    op.drop_table('public_offers')
