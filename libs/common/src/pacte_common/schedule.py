"""Jobs a service runs once per interval, however many instances run it (docs/scaling.md,
"Scheduled jobs").

A job's turn is a row of `scheduled_jobs` (declared on the service's MetaData by
`scheduled_jobs_table`): an instance runs the job only if it moves the row's `started_at`
forward with a conditional UPDATE (the row's start older than the interval), so one instance
runs it per interval and a restart does not run it again before its time. The row also says
which instance ran it last, when it finished and how: `/health/status` shows it (the kernel adds
the component when the service's MetaData has the table).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import Column, MetaData, Row, String, Table, Text, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pacte_common.aio import wait_any
from pacte_common.db import UTCDateTime, utcnow

log = logging.getLogger(__name__)

NEVER = datetime(1970, 1, 1, tzinfo=UTC)
TABLE = "scheduled_jobs"
Factory = async_sessionmaker[AsyncSession]


def scheduled_jobs_table(metadata: MetaData) -> Table:
    return Table(
        TABLE,
        metadata,
        Column("job", String(100), primary_key=True),
        Column("started_at", UTCDateTime, nullable=False),
        Column("started_by", String(64), nullable=False),  # the instance id (`/health/status`)
        Column("finished_at", UTCDateTime, nullable=True),
        Column("outcome", Text, nullable=True),
    )


async def take_turn(db_factory: Factory, table: Table, job: str, interval: timedelta, instance: str) -> datetime | None:
    """None if this instance runs `job` now (its turn is taken); else when the next turn is due."""
    now = utcnow()
    async with db_factory() as db, db.begin():
        insert = postgresql_insert if db.bind.dialect.name == "postgresql" else sqlite_insert
        await db.execute(insert(table).values(job=job, started_at=NEVER, started_by="").on_conflict_do_nothing())
        taken = await db.execute(
            update(table).where(table.c.job == job, table.c.started_at <= now - interval)
            .values(started_at=now, started_by=instance, finished_at=None, outcome=None)
        )
        if taken.rowcount == 1:
            return None
        started_at = (await db.execute(select(table.c.started_at).where(table.c.job == job))).scalar_one()
    return started_at + interval


async def finish_turn(db_factory: Factory, table: Table, job: str, instance: str, outcome: str) -> None:
    async with db_factory() as db, db.begin():
        await db.execute(update(table).where(table.c.job == job, table.c.started_by == instance)
                         .values(finished_at=utcnow(), outcome=outcome[:2000]))


async def run_on_schedule(db_factory: Factory, stop: asyncio.Event, table: Table, job: str, interval_s: float,
                          work: Callable[[], Awaitable[str]], *, instance: str) -> None:
    """Runs `work` (which returns a line saying what it did) once per `interval_s` across the
    instances, until `stop`; an interval of 0 or less turns the job off. A failed run is
    logged and recorded; the next turn comes at the next interval."""
    if interval_s <= 0:
        return
    interval = timedelta(seconds=interval_s)
    while not stop.is_set():
        try:
            due = await take_turn(db_factory, table, job, interval, instance)
        except Exception as exc:  # the database is away: try again in a moment
            log.warning("scheduled job %s: cannot take its turn: %r", job, exc)
            await wait_any(stop, timeout=min(interval_s, 30.0))
            continue
        if due is None:
            try:
                outcome = await work()
            except Exception as exc:
                log.exception("scheduled job %s failed", job)
                outcome = f"failed: {type(exc).__name__}: {exc}"
            else:
                log.info("scheduled job %s: %s", job, outcome)
            try:
                await finish_turn(db_factory, table, job, instance, outcome)
            except Exception as exc:
                log.warning("scheduled job %s: cannot record its end: %r", job, exc)
            due = utcnow() + interval
        await wait_any(stop, timeout=max((due - utcnow()).total_seconds(), 0.0) + 0.01)


async def last_turns(db_factory: Factory, table: Table) -> list[Row]:
    """Each job's last turn (job, started_at, started_by, finished_at, outcome)."""
    async with db_factory() as db:
        return list((await db.execute(select(table).where(table.c.started_at > NEVER).order_by(table.c.job))).all())
