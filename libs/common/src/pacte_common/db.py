"""Database access: async SQLAlchemy 2 from a URL (SQLite embedded, PostgreSQL real)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import weakref
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import JSON, DateTime, MetaData, String, Text, TypeDecorator, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.util import await_only

from pacte_common.clock import utcnow  # noqa: F401  (models' column defaults)
from pacte_common.sqlite_driver import one_trip_dbapi

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_metadata() -> MetaData:
    """Each service owns its own MetaData (its own schema), all with the same naming rules."""
    return MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None:
            if value.tzinfo is None:
                raise ValueError("naive datetime given to a UTC column")
            value = value.astimezone(UTC)
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


class LockSettings(BaseSettings):
    """How long a write waits for SQLite's single write lock (env prefix PACTE_DB_).

    The writers of one process queue in order; a lock held by another connection (another
    process, an operator's sqlite3) is waited for with SQLite's busy timeout. An HTTP write
    that gives up gets 503 + Retry-After (docs/concurrency.md); background work (consumers,
    relay, jobs) waits longer."""

    model_config = SettingsConfigDict(env_prefix="PACTE_DB_", extra="ignore")

    # Behind the lock held by another connection: a few hundred ms, then 503.
    http_lock_wait_s: float = 0.5
    # Behind this process's other writers (each short): a queue that moves; past it, shed load.
    http_queue_wait_s: float = 10.0
    background_write_wait_s: float = 30.0
    busy_retry_after_s: int = 1


# Set per request by the HTTP middleware (pacte_common.service): GET/HEAD/OPTIONS read only,
# and every HTTP request waits at most LockSettings.http_write_wait_s for the write lock.
_read_only: ContextVar[bool] = ContextVar("pacte_db_read_only", default=False)
_write_waits: ContextVar[tuple[float, float] | None] = ContextVar("pacte_db_write_waits", default=None)


@contextmanager
def access_mode(*, read_only: bool, queue_wait_s: float | None = None, lock_wait_s: float | None = None) -> Iterator[None]:
    """Within: transactions are read only (SQLite: deferred BEGIN, no write lock) or writes
    (SQLite: BEGIN IMMEDIATE), which wait at most `queue_wait_s` behind this process's other
    writers and `lock_wait_s` for a lock another connection holds."""
    waits = None if queue_wait_s is None or lock_wait_s is None else (queue_wait_s, lock_wait_s)
    tokens = (_read_only.set(read_only), _write_waits.set(waits))
    try:
        yield
    finally:
        _read_only.reset(tokens[0])
        _write_waits.reset(tokens[1])


def create_engine(url: str, echo: bool = False, pool_size: int = 10, max_overflow: int = 10,
                  pre_ping: bool = False) -> AsyncEngine:
    """`pre_ping` checks each PostgreSQL connection as it leaves the pool (asyncpg: BEGIN, an
    empty query, ROLLBACK: three round trips for every transaction). Off by default: a
    connection that died meanwhile fails its first statement instead, SQLAlchemy then discards
    every pooled connection older than the failure, and the caller retries (a transient error:
    consumers and relays retry, HTTP answers 503). docs/runbook.md, "Database connections"."""
    if is_sqlite(url):
        return _sqlite_engine(url, echo)
    return create_async_engine(
        url, echo=echo, pool_pre_ping=pre_ping, pool_size=pool_size, max_overflow=max_overflow,
        json_serializer=_json_dumps,
    )


def _sqlite_engine(url: str, echo: bool) -> AsyncEngine:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    settings = LockSettings()
    # One trip to aiosqlite's thread per statement instead of four (pacte_common.sqlite_driver).
    engine = create_async_engine(
        url, echo=echo, connect_args={"timeout": 30}, json_serializer=_json_dumps, module=one_trip_dbapi()
    )
    writers = _WriteQueue()

    @event.listens_for(engine.sync_engine, "connect")
    def _sqlite_pragmas(dbapi_connection, _record):
        # We emit BEGIN ourselves (below) instead of the driver's implicit deferred one.
        dbapi_connection.isolation_level = None
        # WAL lets readers go on while the relay writes; foreign keys are off by default.
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # In WAL mode NORMAL never corrupts and survives process crashes (the embedded
        # default's risk); only an OS crash may lose the last commits.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(settings.background_write_wait_s * 1000)}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _sqlite_begin(conn):
        if _read_only.get():
            # A reader never blocks in WAL mode: a deferred BEGIN takes no lock.
            conn.exec_driver_sql("BEGIN")
            return
        # Writers of this process queue in order (FIFO, no polling), then BEGIN IMMEDIATE
        # takes SQLite's write lock up front, so a writer never fails on a lock upgrade.
        queue_wait_s, lock_wait_s = _write_waits.get() or (settings.background_write_wait_s,) * 2
        writers.acquire(conn.connection, queue_wait_s)
        try:
            _set_busy_timeout(conn, lock_wait_s)
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            writers.release(conn.connection)
            raise

    writers.release_after_commit_and_rollback(engine.sync_engine.dialect)

    @event.listens_for(engine.sync_engine.pool, "invalidate")
    def _sqlite_invalidated(dbapi_connection, _record, _exception):
        writers.release(dbapi_connection)

    return engine


def _set_busy_timeout(conn, wait_s: float) -> None:
    """Another process (a CLI, an operator's sqlite3) may hold the lock: wait as long, no more."""
    wanted = int(wait_s * 1000)
    if conn.info.get("pacte_busy_timeout_ms") != wanted:
        conn.exec_driver_sql(f"PRAGMA busy_timeout={wanted}")
        conn.info["pacte_busy_timeout_ms"] = wanted


class _WriteQueue:
    """The SQLite engine's writers, one at a time, in arrival order, per event loop.

    Taken in the "begin" event (inside SQLAlchemy's greenlet, hence await_only), released
    once the COMMIT or ROLLBACK has run (the dialect's own calls, wrapped), so the next
    writer's BEGIN IMMEDIATE finds the lock free. A writer that waits longer than its bound
    gets the OperationalError "database is locked" SQLite itself would give (HTTP: 503)."""

    def __init__(self) -> None:
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()
        self._held: dict[int, asyncio.Lock] = {}  # id(DBAPI connection) -> the lock it holds

    def acquire(self, connection, wait_s: float) -> None:
        key = _dbapi_id(connection)
        if key in self._held:
            return  # this connection still holds it (a commit that failed half-way)
        lock = self._locks.setdefault(asyncio.get_running_loop(), asyncio.Lock())
        try:
            await_only(lock.acquire() if not lock.locked() else asyncio.wait_for(lock.acquire(), wait_s))
        except TimeoutError:
            raise OperationalError(
                "BEGIN IMMEDIATE", None, sqlite3.OperationalError("database is locked (write queue)")
            ) from None
        self._held[key] = lock

    def release(self, connection) -> None:
        lock = self._held.pop(_dbapi_id(connection), None)
        if lock is not None:
            lock.release()

    def release_after_commit_and_rollback(self, dialect) -> None:
        commit, rollback = dialect.do_commit, dialect.do_rollback

        def do_commit(connection) -> None:
            try:
                commit(connection)
            finally:
                self.release(connection)

        def do_rollback(connection) -> None:
            try:
                rollback(connection)
            finally:
                self.release(connection)

        dialect.do_commit, dialect.do_rollback = do_commit, do_rollback


def _dbapi_id(connection) -> int:
    return id(getattr(connection, "dbapi_connection", connection))


def _json_dumps(value) -> str:
    return json.dumps(value, default=str, ensure_ascii=False)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def transaction(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One unit of work: commits on success, rolls back on any exception."""
    async with factory() as session, session.begin():
        yield session


async def ping(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


def run_migrations(url: str, script_location: str | Path, cipher=None, revision: str = "head") -> None:
    """Upgrades the service database to head (or `revision`) with its own Alembic history (sync, in a thread).

    `cipher`, the service's FieldCipher, is handed to the migrations that encrypt data already
    stored (`migration_cipher`)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["configure_logger"] = False
    config.attributes["cipher"] = cipher
    command.upgrade(config, revision)


async def migrate(url: str, script_location: str | Path, cipher=None) -> None:
    await asyncio.to_thread(run_migrations, url, script_location, cipher)


def migration_cipher():
    """In a migration that encrypts stored data: the service's cipher (its keys come from its settings,
    so such a migration runs when the service starts, `db.migrate` from the runtime). Refused
    without one: rows are never left in clear nor sealed with another key."""
    from alembic import context

    cipher = context.config.attributes.get("cipher")
    if cipher is None:
        raise RuntimeError("this migration encrypts stored data: run it by starting the service (it holds the keys)")
    return cipher


# Any fixed 64-bit number: each service has its own database, so one key serves them all.
MIGRATIONS_LOCK_KEY = 7_213_504_118_003_771


def alembic_env(target_metadata: MetaData) -> None:
    """Body of every service's migrations/env.py: online migrations over the async engine."""
    from alembic import context

    config = context.config
    url = config.get_main_option("sqlalchemy.url")

    def do_run(connection) -> None:
        if connection.dialect.name == "postgresql":
            # instances started together migrate one after the other (the lock ends with the transaction)
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATIONS_LOCK_KEY})
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()

    async def run_async() -> None:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as connection:
                await connection.run_sync(do_run)
                await connection.commit()
        finally:
            await engine.dispose()

    if context.is_offline_mode():
        context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
    else:
        asyncio.run(run_async())


class TransitionLogColumns:
    """The columns every transition log shares; a service's log model adds its subject's id.

        class DossierTransition(TransitionLogColumns, Base):
            __tablename__ = "dossier_transitions"
            id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
            dossier_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("dossiers.id"), index=True)
    """

    action: Mapped[str] = mapped_column(String(40))
    from_status: Mapped[str | None] = mapped_column(String(40))
    to_status: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(255))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    reason: Mapped[str | None] = mapped_column(Text)
    trace_id: Mapped[str | None] = mapped_column(String(32))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
