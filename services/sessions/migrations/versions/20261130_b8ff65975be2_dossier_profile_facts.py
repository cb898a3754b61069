"""dossiers: the profile's indicator fields as columns (sex, birth date, level, job-seeker
registration, RQTH, QPV), back-filled from the JSON profile of the files already there

The indicators (db/indicators.py) group and count on these fields: read from columns, 100,000
files no longer cost a JSON parse each.

Revision ID: b8ff65975be2
Revises: 9f4b2d7e6a13
Create Date: 2026-11-30 18:10:00
"""
import sqlalchemy as sa
from alembic import op

revision = 'b8ff65975be2'
down_revision = '9f4b2d7e6a13'
branch_labels = None
depends_on = None

# Every profile went through PersonProfile (sex and birth date required, the flags false by
# default): the same values, read from the JSON by each database.
BACKFILL = {
    'postgresql': """
        UPDATE dossiers SET
            sex = profile ->> 'sex',
            birth_date = CAST(profile ->> 'birth_date' AS DATE),
            education_level = profile ->> 'education_level',
            jobseeker_registration_date = CAST(profile ->> 'jobseeker_registration_date' AS DATE),
            disabled_worker = COALESCE(CAST(profile ->> 'disabled_worker' AS BOOLEAN), false),
            qpv = COALESCE(CAST(profile ->> 'qpv' AS BOOLEAN), false)
    """,
    'sqlite': """
        UPDATE dossiers SET
            sex = json_extract(profile, '$.sex'),
            birth_date = json_extract(profile, '$.birth_date'),
            education_level = json_extract(profile, '$.education_level'),
            jobseeker_registration_date = json_extract(profile, '$.jobseeker_registration_date'),
            disabled_worker = COALESCE(json_extract(profile, '$.disabled_worker'), 0),
            qpv = COALESCE(json_extract(profile, '$.qpv'), 0)
    """,
}


def upgrade() -> None:
    with op.batch_alter_table('dossiers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sex', sa.String(length=1), nullable=True))
        batch_op.add_column(sa.Column('birth_date', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('education_level', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('jobseeker_registration_date', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('disabled_worker', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('qpv', sa.Boolean(), nullable=True))
    op.execute(BACKFILL[op.get_bind().dialect.name])
    with op.batch_alter_table('dossiers', schema=None) as batch_op:
        batch_op.alter_column('sex', existing_type=sa.String(length=1), nullable=False)
        batch_op.alter_column('birth_date', existing_type=sa.Date(), nullable=False)
        batch_op.alter_column('disabled_worker', existing_type=sa.Boolean(), nullable=False)
        batch_op.alter_column('qpv', existing_type=sa.Boolean(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table('dossiers', schema=None) as batch_op:
        batch_op.drop_column('qpv')
        batch_op.drop_column('disabled_worker')
        batch_op.drop_column('jobseeker_registration_date')
        batch_op.drop_column('education_level')
        batch_op.drop_column('birth_date')
        batch_op.drop_column('sex')
