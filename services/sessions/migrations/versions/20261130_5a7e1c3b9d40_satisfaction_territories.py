"""satisfaction (ANOTEA reviews) and employment-training territories

Revision ID: 5a7e1c3b9d40
Revises: c2b8f3c51a22
Create Date: 2026-11-30 13:30:00
"""
import sqlalchemy as sa
from alembic import op
from pacte_common.db import UTCDateTime

revision = '5a7e1c3b9d40'
down_revision = 'c2b8f3c51a22'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('training_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('territory_code', sa.String(length=32), nullable=True))
        batch_op.create_index(batch_op.f('ix_training_sessions_territory_code'), ['territory_code'], unique=False)

    op.create_table(
        'territory_versions',
        sa.Column('version', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('source', sa.Text(), nullable=False),
        sa.Column('note', sa.Text(), nullable=True),
        sa.Column('created_by', sa.String(length=128), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('version', name=op.f('pk_territory_versions')),
    )
    op.create_table(
        'territories',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('code', sa.String(length=32), nullable=False),
        sa.Column('name', sa.String(length=255), nullable=False),
        sa.Column('departement', sa.String(length=3), nullable=True),
        sa.ForeignKeyConstraint(['version'], ['territory_versions.version'], name=op.f('fk_territories_version_territory_versions')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_territories')),
        sa.UniqueConstraint('version', 'code', name=op.f('uq_territories_version_code')),
    )
    op.create_index(op.f('ix_territories_version'), 'territories', ['version'], unique=False)
    op.create_table(
        'territory_places',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('territory_code', sa.String(length=32), nullable=False),
        sa.Column('commune_insee', sa.String(length=5), nullable=True),
        sa.Column('commune_name', sa.String(length=255), nullable=True),
        sa.Column('postcode', sa.String(length=5), nullable=True),
        sa.ForeignKeyConstraint(['version'], ['territory_versions.version'], name=op.f('fk_territory_places_version_territory_versions')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_territory_places')),
    )
    op.create_index(op.f('ix_territory_places_version'), 'territory_places', ['version'], unique=False)
    op.create_index(op.f('ix_territory_places_postcode'), 'territory_places', ['postcode'], unique=False)

    op.create_table(
        'satisfaction_reviews',
        sa.Column('review_id', sa.String(length=64), nullable=False),
        sa.Column('action_id', sa.Uuid(), nullable=False),
        sa.Column('session_id', sa.Uuid(), nullable=True),
        sa.Column('organisation_siret', sa.String(length=14), nullable=False),
        sa.Column('review_date', sa.Date(), nullable=False),
        sa.Column('overall', sa.Numeric(precision=3, scale=2), nullable=False),
        sa.Column('accueil', sa.Numeric(precision=3, scale=2), nullable=False),
        sa.Column('contenu', sa.Numeric(precision=3, scale=2), nullable=False),
        sa.Column('equipe_formateurs', sa.Numeric(precision=3, scale=2), nullable=False),
        sa.Column('moyens_materiels', sa.Numeric(precision=3, scale=2), nullable=False),
        sa.Column('accompagnement', sa.Numeric(precision=3, scale=2), nullable=False),
        sa.Column('imported_by', sa.String(length=128), nullable=False),
        sa.Column('imported_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['action_id'], ['actions.id'], name=op.f('fk_satisfaction_reviews_action_id_actions')),
        sa.ForeignKeyConstraint(['session_id'], ['training_sessions.id'], name=op.f('fk_satisfaction_reviews_session_id_training_sessions')),
        sa.PrimaryKeyConstraint('review_id', name=op.f('pk_satisfaction_reviews')),
    )
    for column in ('action_id', 'session_id', 'organisation_siret', 'review_date'):
        op.create_index(op.f(f'ix_satisfaction_reviews_{column}'), 'satisfaction_reviews', [column], unique=False)


def downgrade() -> None:
    op.drop_table('satisfaction_reviews')
    op.drop_table('territory_places')
    op.drop_table('territories')
    op.drop_table('territory_versions')
    with op.batch_alter_table('training_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_training_sessions_territory_code'))
        batch_op.drop_column('territory_code')
