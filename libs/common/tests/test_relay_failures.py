"""A relay that is never stuck: a row that can never be sent is marked
failed with its error and count, later rows of other keys go on, rows of its key wait
behind it; the operator sees why and retries or discards it (`pacte bus outbox`).
Real broker, real database — the orientation service's own migrated schema."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import ClassVar

import pytest
from orientation.db.models import messaging as orientation_tables
from orientation.main import MIGRATIONS as ORIENTATION_MIGRATIONS
from pacte_common.bus import topic_name
from pacte_common.db import create_engine, migrate, session_factory
from pacte_common.events import IntegrationEvent, register
from pacte_common.messaging import (
    Outbox,
    OutboxRelay,
    OutboxRowNotFailed,
    discard_failed,
    list_outbox,
    outbox_stats,
    retry_failed,
)
from pacte_testing import eventually, read_topic
from pacte_tools.bus_cli import bus_app
from sqlalchemy import select
from typer.testing import CliRunner

TOPIC = "pacte.test.relayfail.v1"
BAD_TOPIC = "pacte.test.no such topic!"
tables = orientation_tables


@register
class MemoWritten(IntegrationEvent):
    event_type: ClassVar[str] = "fr.paysdelaloire.pacte.test.memo.written.v1"
    topic: ClassVar[str] = TOPIC
    text: str


@register
class MemoMisrouted(IntegrationEvent):
    event_type: ClassVar[str] = "fr.paysdelaloire.pacte.test.memo.misrouted.v1"
    topic: ClassVar[str] = BAD_TOPIC
    text: str


@pytest.fixture
async def db(database_url):
    await migrate(database_url, ORIENTATION_MIGRATIONS)  # outbox v2 columns come from the migration
    engine = create_engine(database_url)
    yield engine, session_factory(engine), database_url
    await engine.dispose()


async def write(factory, outbox, items):
    async with factory() as session, session.begin():
        for key, event in items:
            await outbox.publish(session, event, key=key)


def memo(text: str) -> MemoWritten:
    return MemoWritten(text=text)


TOO_LARGE = "x" * (2 * 1024 * 1024)  # over the producer's 1 MiB request limit


async def sent_texts(bus, expect):
    return [e.data.text for e in await read_topic(bus, topic_name(bus, TOPIC), expect=expect, timeout=10)]


async def test_an_unsendable_row_is_marked_failed_others_go_on_its_key_waits_then_is_released(db, bus_settings):
    engine, factory, _url = db
    outbox = Outbox(tables, source="/pacte/test", bus=bus_settings)
    relay = OutboxRelay(outbox, engine, factory, retention=timedelta(days=1))
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        await write(
            factory,
            outbox,
            [("a", memo("a1")), ("a", memo(TOO_LARGE)), ("b", memo("b1")), ("a", memo("a3")),
             ("b", memo("b2")), ("c", memo("c1"))],
        )
        await eventually(lambda: _stats_are(factory, backlog=1, failed=1), timeout=20, message="one failed, one waiting")
        assert sorted(await sent_texts(bus_settings, expect=4)) == ["a1", "b1", "b2", "c1"]

        failed = await list_outbox(factory, tables, failed_only=True)
        assert [(row.message_key, row.state, row.attempts) for row in failed] == [("a", "failed", 1)]
        assert "MessageSizeTooLarge" in failed[0].last_error
        waiting = [row for row in await list_outbox(factory, tables) if row.state == "waiting"]
        assert [row.message_key for row in waiting] == ["a"], "a3 waits behind the failed a2"
        stats = await outbox_stats(factory, tables)
        assert stats.oldest_unsent_age_s is not None and stats.oldest_unsent_age_s >= 0
        assert relay.failed_rows == 1

        # retry: still too large, so failed again, with its count
        await retry_failed(factory, tables, failed[0].id)
        await eventually(lambda: _attempts_of(factory, failed[0].id, 2), timeout=20, message="retried and failed again")
        with pytest.raises(OutboxRowNotFailed):
            await retry_failed(factory, tables, waiting[0].id)

        await discard_failed(factory, tables, failed[0].id, "payload over the broker limit; resent by hand")
        await eventually(lambda: _stats_are(factory, backlog=0, failed=0), timeout=20, message="a3 released")
        texts = await sent_texts(bus_settings, expect=5)
        assert texts.index("a3") > texts.index("a1") and TOO_LARGE not in texts
    finally:
        stop.set()
        await task
    async with factory() as session:
        row = (await session.execute(select(tables.outbox).where(tables.outbox.c.id == failed[0].id))).mappings().one()
    assert row["discard_reason"] == "payload over the broker limit; resent by hand"
    assert row["published_at"] is None and row["discarded_at"] is not None


async def _stats_are(factory, *, backlog, failed):
    stats = await outbox_stats(factory, tables)
    return (stats.backlog, stats.failed) == (backlog, failed)


async def _attempts_of(factory, row_id, attempts):
    async with factory() as session:
        row = (
            await session.execute(select(tables.outbox.c.attempts, tables.outbox.c.failed_at).where(tables.outbox.c.id == row_id))
        ).one()
    return row.attempts == attempts and row.failed_at is not None


async def test_a_row_for_a_topic_missing_on_the_broker_is_not_stuck(db, bus_settings):
    """The relay creates a missing topic before sending (Tansu creates any name; a Kafka that
    refuses it makes the row failed with "does not exist", like a too-large one)."""
    engine, factory, _url = db
    outbox = Outbox(tables, source="/pacte/test", bus=bus_settings)
    relay = OutboxRelay(outbox, engine, factory, retention=timedelta(days=1))
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        await write(factory, outbox, [("k", MemoMisrouted(text="routed")), ("k2", memo("fine"))])
        await eventually(lambda: _stats_are(factory, backlog=0, failed=0), timeout=30, message="both sent")
        assert await sent_texts(bus_settings, expect=1) == ["fine"]
        misrouted = await read_topic(bus_settings, topic_name(bus_settings, BAD_TOPIC), expect=1)
        assert [e.data.text for e in misrouted] == ["routed"]
    finally:
        stop.set()
        await task


async def test_operator_lists_failed_rows_and_discards_one_with_a_reason_from_the_command_line(db, bus_settings):
    engine, factory, url = db
    outbox = Outbox(tables, source="/pacte/test", bus=bus_settings)
    relay = OutboxRelay(outbox, engine, factory, retention=timedelta(days=1))
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        await write(factory, outbox, [("a", memo(TOO_LARGE)), ("a", memo("after"))])
        await eventually(lambda: _stats_are(factory, backlog=1, failed=1), timeout=20, message="failed row")
        cli = CliRunner()
        listing = await asyncio.to_thread(
            cli.invoke, bus_app, ["outbox", "--service", "orientation", "--database-url", url, "--failed"]
        )
        assert listing.exit_code == 0, listing.output
        [failed] = await list_outbox(factory, tables, failed_only=True)
        assert f"{failed.id}\tfailed" in listing.output and "MessageSizeTooLarge" in listing.output
        assert "1 waiting" in listing.output and "1 failed" in listing.output

        refused = await asyncio.to_thread(
            cli.invoke, bus_app,
            ["outbox", "discard", str(failed.id), "--service", "orientation", "--database-url", url, "--reason", " "],
        )
        assert refused.exit_code != 0, "a discard needs a reason"
        done = await asyncio.to_thread(
            cli.invoke, bus_app,
            ["outbox", "discard", str(failed.id), "--service", "orientation", "--database-url", url,
             "--reason", "duplicate of a manual fix"],
        )
        assert done.exit_code == 0, done.output
        await eventually(lambda: _stats_are(factory, backlog=0, failed=0), timeout=20, message="later row sent")
    finally:
        stop.set()
        await task
    assert await sent_texts(bus_settings, expect=1) == ["after"]
