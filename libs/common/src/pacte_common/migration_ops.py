"""Alembic operations shared by every service's messaging migrations: the messaging tables
(outbox, inbox, idempotency keys) of `pacte_common.messaging.MessagingTables`, versions 1 (frozen) and 2;
and the scheduled jobs' table of `pacte_common.schedule`, for the services that run such jobs.

Frozen: a later change to those tables is a new function used by a new migration in each
service, never an edit of this one.
"""

import sqlalchemy as sa
from alembic import op

import pacte_common.db


def create_messaging_tables_v1() -> None:
    op.create_table('idempotency_keys',
    sa.Column('scope', sa.String(length=255), nullable=False),
    sa.Column('idempotency_key', sa.String(length=255), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=False),
    sa.Column('response_body', sa.JSON(), nullable=False),
    sa.Column('resource_location', sa.String(length=500), nullable=True),
    sa.Column('created_at', pacte_common.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('scope', 'idempotency_key', name=op.f('pk_idempotency_keys'))
    )
    with op.batch_alter_table('idempotency_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_idempotency_keys_created_at'), ['created_at'], unique=False)

    op.create_table('inbox_messages',
    sa.Column('consumer', sa.String(length=255), nullable=False),
    sa.Column('event_id', sa.String(length=64), nullable=False),
    sa.Column('source', sa.String(length=255), nullable=False),
    sa.Column('event_type', sa.String(length=255), nullable=False),
    sa.Column('topic', sa.String(length=255), nullable=False),
    sa.Column('received_at', pacte_common.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('consumer', 'event_id', name=op.f('pk_inbox_messages'))
    )
    op.create_table('outbox_messages',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('event_id', sa.String(length=64), nullable=False),
    sa.Column('topic', sa.String(length=255), nullable=False),
    sa.Column('message_key', sa.String(length=255), nullable=False),
    sa.Column('event_type', sa.String(length=255), nullable=False),
    sa.Column('headers', sa.JSON(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', pacte_common.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('published_at', pacte_common.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox_messages')),
    sa.UniqueConstraint('event_id', name=op.f('uq_outbox_messages_event_id'))
    )
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outbox_messages_published_at'), ['published_at'], unique=False)



def drop_messaging_tables_v1() -> None:
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbox_messages_published_at'))

    op.drop_table('outbox_messages')
    op.drop_table('inbox_messages')
    with op.batch_alter_table('idempotency_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_idempotency_keys_created_at'))

    op.drop_table('idempotency_keys')


def add_messaging_v2() -> None:
    """Version 2: outbox rows that failed for good or were discarded by an
    operator, and the broker incarnation each bus component last saw."""
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('failed_at', pacte_common.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('discarded_at', pacte_common.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('discard_reason', sa.Text(), nullable=True))
        batch_op.create_index(batch_op.f('ix_outbox_messages_failed_at'), ['failed_at'], unique=False)

    op.create_table('bus_incarnations',
    sa.Column('component', sa.String(length=255), nullable=False),
    sa.Column('cluster_id', sa.String(length=255), nullable=False),
    sa.Column('seen_at', pacte_common.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('component', name=op.f('pk_bus_incarnations'))
    )


def drop_messaging_v2() -> None:
    op.drop_table('bus_incarnations')
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbox_messages_failed_at'))
        batch_op.drop_column('discard_reason')
        batch_op.drop_column('discarded_at')
        batch_op.drop_column('failed_at')


def add_scheduled_jobs() -> None:
    """The turns of the jobs a service runs once per interval across its instances (pacte_common.schedule)."""
    op.create_table('scheduled_jobs',
    sa.Column('job', sa.String(length=100), nullable=False),
    sa.Column('started_at', pacte_common.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('started_by', sa.String(length=64), nullable=False),
    sa.Column('finished_at', pacte_common.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('outcome', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('job', name=op.f('pk_scheduled_jobs'))
    )


def drop_scheduled_jobs() -> None:
    op.drop_table('scheduled_jobs')


def _unsent_rows():
    return sa.text("published_at IS NULL AND failed_at IS NULL AND discarded_at IS NULL")


def add_outbox_unsent_indexes() -> None:
    """Version 3: the outbox rows still to send in two partial indexes (by id; by key and id),
    so a relay's claim reads the backlog's head whatever the backlog and the retention."""
    where = _unsent_rows()
    op.create_index('ix_outbox_messages_unsent', 'outbox_messages', ['id'], unique=False,
                    postgresql_where=where, sqlite_where=where)
    op.create_index('ix_outbox_messages_unsent_keys', 'outbox_messages', ['message_key', 'id'], unique=False,
                    postgresql_where=where, sqlite_where=where)


def drop_outbox_unsent_indexes() -> None:
    op.drop_index('ix_outbox_messages_unsent_keys', table_name='outbox_messages')
    op.drop_index('ix_outbox_messages_unsent', table_name='outbox_messages')
