"""ANOTEA reviews: the organisation's index covers the training and the six marks, so the public
search's marks of an organisation are summed from the index alone (docs/public-search.md,
"Speed"); it replaces the index on the SIRET alone, which it begins with

Revision ID: 5e9b3d7a1c42
Revises: 3b9e5d1f7a26
Create Date: 2026-12-07 03:10:00
"""
from alembic import op

revision = '5e9b3d7a1c42'
down_revision = '3b9e5d1f7a26'
branch_labels = None
depends_on = None

MARKS = ['overall', 'accueil', 'contenu', 'equipe_formateurs', 'moyens_materiels', 'accompagnement']


def upgrade() -> None:
    with op.batch_alter_table('satisfaction_reviews', schema=None) as batch_op:
        batch_op.create_index('ix_satisfaction_reviews_organisation_marks', ['organisation_siret', 'action_id', *MARKS], unique=False)
        batch_op.drop_index('ix_satisfaction_reviews_organisation_siret')


def downgrade() -> None:
    with op.batch_alter_table('satisfaction_reviews', schema=None) as batch_op:
        batch_op.create_index('ix_satisfaction_reviews_organisation_siret', ['organisation_siret'], unique=False)
        batch_op.drop_index('ix_satisfaction_reviews_organisation_marks')
