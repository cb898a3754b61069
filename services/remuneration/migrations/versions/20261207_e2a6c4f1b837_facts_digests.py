"""facts digests: a statement remembers a digest of the file's facts it was computed from, and each
month's attendance version, derived by the run from what it reads; nothing is raised on a change

Revision ID: e2a6c4f1b837
Revises: d9f4b2e6a813
Create Date: 2026-12-07 03:15:00
"""
import sqlalchemy as sa
from alembic import op

revision = 'e2a6c4f1b837'
down_revision = 'd9f4b2e6a813'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Statements computed under facts versions remember no digest: their files are reviewed in full once.
    with op.batch_alter_table('statements') as batch:
        batch.drop_column('facts_version')
        batch.add_column(sa.Column('facts_digest', sa.String(length=32), nullable=True))
    with op.batch_alter_table('remuneration_files') as batch:
        batch.drop_column('facts_version')
    op.drop_table('month_facts')


def downgrade() -> None:
    op.create_table(
        'month_facts',
        sa.Column('dossier_id', sa.Uuid(), nullable=False),
        sa.Column('month', sa.String(length=7), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('dossier_id', 'month', name=op.f('pk_month_facts')),
    )
    with op.batch_alter_table('remuneration_files') as batch:
        batch.add_column(sa.Column('facts_version', sa.Integer(), server_default='0', nullable=False))
    with op.batch_alter_table('statements') as batch:
        batch.drop_column('facts_digest')
        batch.add_column(sa.Column('facts_version', sa.Integer(), nullable=True))
