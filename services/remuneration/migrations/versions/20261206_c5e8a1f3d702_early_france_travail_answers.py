"""early France Travail answers: an answer that arrives before its file, kept by dossier id

Revision ID: c5e8a1f3d702
Revises: b7e3f1a2c4d6
Create Date: 2026-12-06 20:00:00
"""
import sqlalchemy as sa
from alembic import op
from pacte_common.db import UTCDateTime

revision = 'c5e8a1f3d702'
down_revision = 'b7e3f1a2c4d6'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'early_france_travail_answers',
        sa.Column('dossier_id', sa.Uuid(), nullable=False),
        sa.Column('answer', sa.JSON(), nullable=False),
        sa.Column('received_at', UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('dossier_id', name=op.f('pk_early_france_travail_answers')),
    )


def downgrade() -> None:
    op.drop_table('early_france_travail_answers')
