"""`pacte insights rebuild`: insights' read models rebuilt from the topics (docs/insights.md §4).

Run with insights stopped (its consumer groups must have no member): empties the read models
and the inbox rows of insights' consumers, sets each consumer group back to the beginning of its
topics, then runs insights' consumers in this process, printing their progress, until every
group has read what the topics held when the rebuild started. Start insights again after.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from contextlib import asynccontextmanager
from typing import Annotated

import typer
from aiokafka import TopicPartition
from pacte_common.bus import end_offsets, new_consumer, topic_name

insights_app = typer.Typer(help="The read side (insights): rebuild its read models from the topics.", no_args_is_help=True)


def _groups(settings) -> dict[str, list[str]]:
    """consumer name (`insights.<subscription>`) → its topics, namespaced."""
    from insights.events.handlers import subscriptions

    return {f"{settings.service_name}.{s.name}": [topic_name(settings.bus, t) for t in s.topics] for s in subscriptions()}


@asynccontextmanager
async def _group_client(settings, consumer: str):
    client = new_consumer(settings.bus, group_id=f"{settings.bus.topic_namespace}{consumer}")
    await client.start()
    try:
        yield client
    finally:
        await client.stop()


async def reset_to_beginning(settings, consumer: str, topics: list[str]) -> dict[TopicPartition, int]:
    """Joins the group (its members stopped: this process is its only one), commits its offsets
    at the beginning of each partition and leaves; returns the ends to reach."""
    client = new_consumer(settings.bus, *topics, group_id=f"{settings.bus.topic_namespace}{consumer}")
    await client.start()
    try:
        while not client.assignment():  # joined once the group has assigned this member its partitions
            await client.getmany(timeout_ms=500)
        partitions = sorted(client.assignment())
        beginnings = await client.beginning_offsets(partitions)
        await client.commit(dict(beginnings.items()))
    finally:
        await client.stop()
    return await end_offsets(settings.bus, topics)  # as read: the broker's watermark may be short


async def read_so_far(settings, consumer: str, ends: dict[TopicPartition, int]) -> tuple[int, int]:
    """(messages the group has committed, messages to reach) over the partitions."""
    async with _group_client(settings, consumer) as client:
        done = 0
        for partition, end in ends.items():
            committed = await client.committed(partition)
            done += min(committed or 0, end)
        return done, sum(ends.values())


async def rebuild(settings, report: Callable[[str], None] = print, timeout_s: float = 3600.0) -> dict[str, int]:
    """Empties, resets, replays; returns how many rows each read model held before."""
    from insights.app.rebuild import empty_read_models
    from insights.main import MIGRATIONS, create_app
    from pacte_common.db import create_engine, migrate, session_factory

    groups = _groups(settings)
    await migrate(settings.database_url, MIGRATIONS)
    engine = create_engine(settings.database_url)
    try:
        async with session_factory(engine)() as db:
            held = await empty_read_models(db, list(groups))
    finally:
        await engine.dispose()
    report(f"emptied: {', '.join(f'{table} {count}' for table, count in held.items())}")
    ends = {consumer: await reset_to_beginning(settings, consumer, topics) for consumer, topics in groups.items()}
    report("consumer groups set back to the beginning: " + ", ".join(f"{c} ({sum(e.values())} messages)" for c, e in ends.items()))
    app = create_app(settings.model_copy(update={"consume": True}))
    deadline = time.monotonic() + timeout_s
    async with app.router.lifespan_context(app):
        while True:
            progress = {consumer: await read_so_far(settings, consumer, ends[consumer]) for consumer in groups}
            report("replayed: " + ", ".join(f"{c} {done}/{total}" for c, (done, total) in progress.items()))
            if all(done >= total for done, total in progress.values()):
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"the replay did not finish within {timeout_s} s")
            await asyncio.sleep(1.0)
    return held


@insights_app.command("rebuild")
def rebuild_command(
    database_url: Annotated[str, typer.Option(help="insights' database (default: PACTE_INSIGHTS_DATABASE_URL, else the suite's)")] = "",
    bootstrap: Annotated[str, typer.Option(help="Kafka bootstrap servers (default: the suite's broker)")] = "",
    timeout: Annotated[float, typer.Option(help="Seconds the replay may take")] = 3600.0,
) -> None:
    """Rebuild insights' read models from the topics (stop insights first; docs/insights.md §4)."""
    from insights.settings import InsightsSettings

    from pacte_tools.bus_cli import service_database, suite_bus

    url, _ = service_database("insights", database_url)
    bus = suite_bus(bootstrap)
    settings = InsightsSettings(database_url=url, bus=InsightsSettings().bus.model_copy(
        update={"bootstrap_servers": bus.bootstrap_servers, "topic_namespace": bus.topic_namespace}))
    asyncio.run(rebuild(settings, report=typer.echo, timeout_s=timeout))
    typer.echo("rebuilt: start insights again")
