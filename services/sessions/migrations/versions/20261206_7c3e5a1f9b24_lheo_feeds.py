"""LHEO feeds: the delivering organisation of an action, sessions with places unknown and the
feed they came from, the Region's programme mappings, the pull runs and their reports

Revision ID: 7c3e5a1f9b24
Revises: 4f7a2c9e1b63
Create Date: 2026-12-06 16:05:00
"""
import pacte_common.db
import sqlalchemy as sa
from alembic import op

revision = '7c3e5a1f9b24'
down_revision = '4f7a2c9e1b63'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('lheo_pull_runs',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('feed_url', sa.String(length=1000), nullable=False),
    sa.Column('started_at', pacte_common.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', pacte_common.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('http_status', sa.Integer(), nullable=True),
    sa.Column('etag', sa.String(length=500), nullable=True),
    sa.Column('last_modified', sa.String(length=100), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('closed_sessions', sa.Integer(), nullable=False),
    sa.Column('report', sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lheo_pull_runs'))
    )
    with op.batch_alter_table('lheo_pull_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lheo_pull_runs_feed_url'), ['feed_url'], unique=False)
        batch_op.create_index(batch_op.f('ix_lheo_pull_runs_started_at'), ['started_at'], unique=False)

    op.create_table('lheo_programme_mappings',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('programme_id', sa.Uuid(), nullable=False),
    sa.Column('updated_by', sa.String(length=128), nullable=False),
    sa.Column('updated_at', pacte_common.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['programme_id'], ['programmes.id'], name=op.f('fk_lheo_programme_mappings_programme_id_programmes')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lheo_programme_mappings')),
    sa.UniqueConstraint('kind', 'code', name=op.f('uq_lheo_programme_mappings_kind_code'))
    )
    with op.batch_alter_table('lheo_programme_mappings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lheo_programme_mappings_programme_id'), ['programme_id'], unique=False)

    with op.batch_alter_table('actions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('delivering_siret', sa.String(length=14), nullable=True))
        batch_op.add_column(sa.Column('delivering_name', sa.String(length=500), nullable=True))
        batch_op.create_index(batch_op.f('ix_actions_delivering_siret'), ['delivering_siret'], unique=False)

    with op.batch_alter_table('training_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('places_unknown', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('lheo_feed', sa.String(length=1000), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('training_sessions', schema=None) as batch_op:
        batch_op.drop_column('lheo_feed')
        batch_op.drop_column('places_unknown')

    with op.batch_alter_table('actions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_actions_delivering_siret'))
        batch_op.drop_column('delivering_name')
        batch_op.drop_column('delivering_siret')

    with op.batch_alter_table('lheo_programme_mappings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lheo_programme_mappings_programme_id'))
    op.drop_table('lheo_programme_mappings')

    with op.batch_alter_table('lheo_pull_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lheo_pull_runs_started_at'))
        batch_op.drop_index(batch_op.f('ix_lheo_pull_runs_feed_url'))
    op.drop_table('lheo_pull_runs')
