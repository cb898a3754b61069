"""person_searches: the criteria (last name, birth date) sealed with the service's cipher, never in clear

Revision ID: f3b8d2a61c45
Revises: d4f1a9c2e6b7
Create Date: 2026-12-07 03:30:00

Rows already written are sealed here, with the keys of the service that runs the migration at its
start (pacte_common.db.migration_cipher); the clear columns are then dropped.
"""
import json
from datetime import date

import sqlalchemy as sa
from alembic import op
from pacte_common.db import migration_cipher

revision = 'f3b8d2a61c45'
down_revision = 'd4f1a9c2e6b7'
branch_labels = None
depends_on = None

# As orientation.app.search seals them (frozen here: the migration must not follow later code).
CRITERIA_CONTEXT = "orientation.person-search.criteria.v1"

searches = sa.table(
    'person_searches', sa.column('id', sa.Uuid()), sa.column('last_name', sa.String(200)),
    sa.column('birth_date', sa.Date()), sa.column('criteria_sealed', sa.Text()),
)


def upgrade() -> None:
    with op.batch_alter_table('person_searches') as batch_op:
        batch_op.add_column(sa.Column('criteria_sealed', sa.Text(), nullable=True))
    bind = op.get_bind()
    rows = bind.execute(sa.select(searches.c.id, searches.c.last_name, searches.c.birth_date)).all()
    if rows:
        cipher = migration_cipher()
        bind.execute(
            searches.update().where(searches.c.id == sa.bindparam('row_id'))
            .values(criteria_sealed=sa.bindparam('sealed')),
            [{'row_id': row.id, 'sealed': cipher.encrypt(json.dumps(
                {'last_name': row.last_name, 'birth_date': row.birth_date.isoformat()}), context=CRITERIA_CONTEXT)}
             for row in rows],
        )
    with op.batch_alter_table('person_searches') as batch_op:
        batch_op.alter_column('criteria_sealed', existing_type=sa.Text(), nullable=False)
        batch_op.drop_column('last_name')
        batch_op.drop_column('birth_date')


def downgrade() -> None:
    with op.batch_alter_table('person_searches') as batch_op:
        batch_op.add_column(sa.Column('last_name', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('birth_date', sa.Date(), nullable=True))
    bind = op.get_bind()
    rows = bind.execute(sa.select(searches.c.id, searches.c.criteria_sealed)).all()
    if rows:
        cipher = migration_cipher()
        opened = [(row.id, json.loads(cipher.decrypt(row.criteria_sealed, context=CRITERIA_CONTEXT))) for row in rows]
        bind.execute(
            searches.update().where(searches.c.id == sa.bindparam('row_id'))
            .values(last_name=sa.bindparam('name'), birth_date=sa.bindparam('born')),
            [{'row_id': row_id, 'name': c['last_name'], 'born': date.fromisoformat(c['birth_date'])}
             for row_id, c in opened],
        )
    with op.batch_alter_table('person_searches') as batch_op:
        batch_op.alter_column('last_name', existing_type=sa.String(length=200), nullable=False)
        batch_op.alter_column('birth_date', existing_type=sa.Date(), nullable=False)
        batch_op.drop_column('criteria_sealed')
