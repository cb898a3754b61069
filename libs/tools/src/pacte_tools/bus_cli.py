"""`pacte bus …`: operator commands on the event bus (docs/runbook.md).

Every command finds the broker and the services' databases the way `pacte up` set them
(SuiteSettings, env PACTE_SUITE_*), unless told otherwise with --bootstrap / --database-url.
They speak the Kafka protocol through aiokafka, so they work on the embedded Tansu broker,
which Debian's kcat cannot read (see docs/runbook.md), and on any Kafka.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from pacte_common.clock import utcnow
from pacte_common.settings import BusSettings
from rich.console import Console

bus_app = typer.Typer(help="Operator commands on the event bus.", no_args_is_help=True)
outbox_app = typer.Typer(
    help="A service's outbox: list waiting or failed events (--failed), retry or discard one.",
    invoke_without_command=True,
)
bus_app.add_typer(outbox_app, name="outbox")
console = Console(stderr=True)

BootstrapOption = Annotated[
    str, typer.Option(help="Kafka bootstrap servers (default: the suite's broker, as `pacte up` starts it)")
]
ServiceOption = Annotated[str, typer.Option(help="orientation, sessions, remuneration, agora-gateway or attendance")]
DatabaseOption = Annotated[
    str, typer.Option(help="The service's database URL (default: PACTE_<SERVICE>_DATABASE_URL, else the suite's)")
]


def suite_bus(bootstrap: str = "") -> BusSettings:
    """The bus as `pacte up` runs it: same bootstrap default, same topic namespace."""
    from pacte_tools.suite import Suite, SuiteSettings

    suite = SuiteSettings()
    return BusSettings(
        bootstrap_servers=bootstrap or Suite(suite).bootstrap, topic_namespace=suite.topic_namespace
    )


def service_database(service: str, database_url: str = "") -> tuple[str, object]:
    """(database URL, MessagingTables) of a service."""
    from pacte_tools.suite import SERVICES, Suite, SuiteSettings

    spec = next((s for s in SERVICES if s.name == service and s.has_database), None)
    if spec is None:
        names = ", ".join(s.name for s in SERVICES if s.has_database)
        raise typer.BadParameter(f"unknown service {service!r}; one of {names}", param_hint="--service")
    module = importlib.import_module(f"{service.replace('-', '_')}.db.models")
    url = database_url or os.environ.get(f"{spec.env_prefix}DATABASE_URL") or Suite(SuiteSettings()).database_url(spec)
    return url, module.messaging


async def _with_database(url: str, work):
    from pacte_common.db import create_engine, session_factory

    engine = create_engine(url)
    try:
        return await work(session_factory(engine))
    finally:
        await engine.dispose()


@bus_app.command("replay-dlq")
def replay_dlq(
    topic: Annotated[str, typer.Argument(help="Dead-letter topic, <topic>.dlq.<consumer>")],
    bootstrap: BootstrapOption = "",
    limit: Annotated[int | None, typer.Option(help="At most this many messages")] = None,
    wait: Annotated[
        float | None, typer.Option(help="Seconds to wait for the consumers to handle the replayed messages")
    ] = None,
) -> None:
    """Re-publishes the dead letters present now to their original topic, once each, and
    reports how many were replayed and how many failed again (consumers dedupe by inbox)."""
    from pacte_common.consumer import replay_dead_letters

    try:
        report = asyncio.run(replay_dead_letters(suite_bus(bootstrap), topic, limit=limit, settle_timeout_s=wait))
    except LookupError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    typer.echo(
        f"{topic}: replayed {report.replayed}, failed again {report.failed_again}, "
        f"not yet handled {report.unsettled}"
    )
    if report.failed_again or report.unsettled:
        raise typer.Exit(2)


@bus_app.command("replay-outbox")
def replay_outbox_command(
    service: ServiceOption,
    database_url: DatabaseOption = "",
    since_hours: Annotated[float, typer.Option(help="Re-send events published in the last N hours")] = 1.0,
) -> None:
    """Marks a service's recently published events unsent: its relay sends them again.

    Rarely needed: relays re-send their retained outbox by themselves when the broker is a
    new incarnation or lost their topics."""
    from pacte_common.messaging import replay_outbox

    url, tables = service_database(service, database_url)
    since = utcnow() - timedelta(hours=since_hours)
    count = asyncio.run(_with_database(url, lambda factory: replay_outbox(factory, tables, since)))
    console.print(f"{count} event(s) will be sent again by the {service} relay")


@outbox_app.callback()
def outbox_list(
    ctx: typer.Context,
    service: Annotated[str, typer.Option(help="orientation, sessions, remuneration, agora-gateway or attendance")] = "",
    database_url: DatabaseOption = "",
    failed: Annotated[bool, typer.Option("--failed", help="Only the events that cannot be sent, with why")] = False,
    limit: Annotated[int, typer.Option(help="At most this many rows")] = 100,
) -> None:
    """Lists a service's unsent events (waiting or failed), oldest first."""
    if ctx.invoked_subcommand is not None:
        return
    if not service:
        raise typer.BadParameter("which service?", param_hint="--service")
    from pacte_common.messaging import list_outbox, outbox_stats

    url, tables = service_database(service, database_url)

    async def read(factory):
        return await list_outbox(factory, tables, failed_only=failed, limit=limit), await outbox_stats(factory, tables)

    rows, stats = asyncio.run(_with_database(url, read))
    age = f"{stats.oldest_unsent_age_s:.0f}s" if stats.oldest_unsent_age_s is not None else "-"
    typer.echo(f"{service}: {stats.backlog} waiting (oldest {age}), {stats.failed} failed")
    for row in rows:
        typer.echo(
            f"{row.id}\t{row.state}\t{row.created_at.isoformat()}\t{row.event_type}\t{row.topic}\tkey={row.message_key}"
            f"\tattempts={row.attempts}" + (f"\terror={row.last_error}" if row.last_error else "")
        )


@outbox_app.command("retry")
def outbox_retry(
    row_id: Annotated[int, typer.Argument(help="Outbox row id (from `pacte bus outbox --failed`)")],
    service: ServiceOption,
    database_url: DatabaseOption = "",
) -> None:
    """Sends a failed event again; the later events of its key follow it."""
    from pacte_common.messaging import OutboxRowNotFailed, retry_failed

    url, tables = service_database(service, database_url)
    try:
        asyncio.run(_with_database(url, lambda factory: retry_failed(factory, tables, row_id)))
    except OutboxRowNotFailed:
        console.print(f"[red]no failed, unsent outbox row {row_id} in {service}[/red]")
        raise typer.Exit(1) from None
    typer.echo(f"{service}: outbox row {row_id} will be sent again")


@outbox_app.command("discard")
def outbox_discard(
    row_id: Annotated[int, typer.Argument(help="Outbox row id (from `pacte bus outbox --failed`)")],
    service: ServiceOption,
    reason: Annotated[str, typer.Option(help="Why it is given up (recorded with the row)")],
    database_url: DatabaseOption = "",
) -> None:
    """Gives up a failed event for good, recording why; the later events of its key go on."""
    from pacte_common.messaging import OutboxRowNotFailed, discard_failed

    if not reason.strip():
        raise typer.BadParameter("a reason is required", param_hint="--reason")
    url, tables = service_database(service, database_url)
    try:
        asyncio.run(_with_database(url, lambda factory: discard_failed(factory, tables, row_id, reason)))
    except OutboxRowNotFailed:
        console.print(f"[red]no failed, unsent outbox row {row_id} in {service}[/red]")
        raise typer.Exit(1) from None
    typer.echo(f"{service}: outbox row {row_id} discarded ({reason})")


@bus_app.command("tail")
def tail(
    topic: Annotated[str, typer.Argument(help="Topic name (with its namespace, if any)")],
    from_beginning: Annotated[bool, typer.Option("--from-beginning", help="Start at the oldest message")] = False,
    key: Annotated[str | None, typer.Option(help="Only messages with this key")] = None,
    event_type: Annotated[str | None, typer.Option("--type", help="Only CloudEvents whose type contains this")] = None,
    follow: Annotated[bool, typer.Option(help="Keep waiting for new messages (--no-follow: stop at the end)")] = True,
    limit: Annotated[int | None, typer.Option(help="Stop after this many printed messages")] = None,
    bootstrap: BootstrapOption = "",
) -> None:
    """Prints a topic's messages as decoded CloudEvents: key, partition/offset, ce_* headers, JSON body."""
    try:
        asyncio.run(_tail(suite_bus(bootstrap), topic, from_beginning, key, event_type, follow, limit))
    except LookupError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        pass


async def _tail(bus, topic, from_beginning, key, event_type, follow, limit) -> None:
    from pacte_common.bus import end_offsets, new_consumer

    ends = await end_offsets(bus, [topic])
    if not ends:
        raise LookupError(f"no topic {topic}")
    consumer = new_consumer(bus, group_id=None)
    await consumer.start()
    printed = 0
    try:
        consumer.assign(list(ends))
        for tp, end in ends.items():
            consumer.seek(tp, 0 if from_beginning else end)
        positions = {tp: 0 if from_beginning else end for tp, end in ends.items()}
        while follow or any(positions[tp] < ends[tp] for tp in ends):
            batch = await consumer.getmany(timeout_ms=500)
            for tp, messages in sorted(batch.items()):
                for message in messages:
                    positions[tp] = message.offset + 1
                    if not follow and message.offset >= ends[tp]:
                        continue
                    if _matches(message, key, event_type):
                        typer.echo(format_message(message))
                        printed += 1
                        if limit is not None and printed >= limit:
                            return
    finally:
        await consumer.stop()


def _matches(message, key: str | None, event_type: str | None) -> bool:
    if key is not None and (message.key or b"").decode(errors="replace") != key:
        return False
    if event_type is not None:
        ce_type = dict(message.headers or ()).get("ce_type", b"").decode(errors="replace")
        return event_type in ce_type
    return True


def format_message(message) -> str:
    """One message as an operator reads it: where it is, its CloudEvent attributes, its body."""
    lines = [
        f"--- {message.topic}[{message.partition}]@{message.offset}"
        f"  key={(message.key or b'').decode(errors='replace')}"
        f"  time={datetime.fromtimestamp(message.timestamp / 1000, UTC).isoformat()}"
    ]
    for name, value in message.headers or ():
        lines.append(f"{name}: {value.decode(errors='replace')}")
    try:
        lines.append(json.dumps(json.loads(message.value or b"null"), indent=2, ensure_ascii=False))
    except ValueError:
        lines.append(f"(not JSON) {(message.value or b'')[:500]!r}")
    return "\n".join(lines)


@bus_app.command("topics")
def topics(
    bootstrap: BootstrapOption = "",
    prefix: Annotated[str, typer.Option(help="Only topics whose name starts with this")] = "",
) -> None:
    """Lists topics with partitions, end offsets and each consumer group's lag."""
    for line in asyncio.run(topic_report(suite_bus(bootstrap), prefix)):
        typer.echo(line)


async def topic_report(bus: BusSettings, prefix: str = "") -> list[str]:
    from pacte_common.bus import describe_bus, end_offsets, group_offsets, new_admin

    view = await describe_bus(bus)
    names = sorted(t for t in view.topics if t.startswith(prefix) and not t.startswith("__"))
    ends = await end_offsets(bus, names)
    admin = new_admin(bus)
    await admin.start()
    try:
        groups = sorted(group for group, *_ in await admin.list_consumer_groups())
    finally:
        await admin.close()
    committed = {group: await group_offsets(bus, group, ends) for group in groups}
    lines = [f"cluster {view.cluster_id}"]
    for name in names:
        partitions = sorted((tp for tp in ends if tp.topic == name), key=lambda tp: tp.partition)
        offsets = ", ".join(f"{tp.partition}:{ends[tp]}" for tp in partitions)
        lines.append(f"{name}\tpartitions={len(partitions)}\tend offsets [{offsets}]")
        for group in groups:
            mine = [tp for tp in partitions if tp in committed[group]]
            if mine:
                lag = sum(max(0, ends[tp] - committed[group][tp]) for tp in mine)
                lines.append(f"  group {group}\tlag={lag}")
    return lines
