"""LHEO feeds: the Region's programme mappings, and the offer pulled from a URL on a schedule
(docs/lheo.md).

A pull asks with the last `ETag` / `Last-Modified` it got (`If-None-Match`,
`If-Modified-Since`): a 304 reads nothing. A new file is imported as `POST /catalogue/lheo`
imports it (upserts by LHEO `numero`: unchanged items stay unchanged), the feed's sessions that
left the file are closed (never deleted), and the run and its report are written in the same
transaction. A file that cannot be read (HTTP error, too large, not LHEO, invalid against the
XSD) changes nothing and is kept as a failed run with the reason.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import httpx
from pacte_common.clock import utcnow
from pacte_common.errors import NotFound, ProblemError
from pacte_common.schedule import run_on_schedule
from pacte_common.service import INSTANCE_ID, Runtime
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sessions.app.lheo import import_without_commit
from sessions.db.models import LheoProgrammeMapping, LheoPullRun, Programme, scheduled_jobs

log = logging.getLogger(__name__)

MAPPING_KINDS = ("financeur", "dispositif")


# ---------------------------------------------------------------- the Region's mappings


async def put_mapping(db: AsyncSession, kind: str, code: str, programme_code: str, actor: str) -> LheoProgrammeMapping:
    """Maps an LHEO financer code or code-dispositif to one of the Region's programmes."""
    programme = (await db.execute(select(Programme).where(Programme.code == programme_code))).scalar_one_or_none()
    if programme is None:
        raise NotFound(f"No programme {programme_code!r}")
    query = select(LheoProgrammeMapping).where(LheoProgrammeMapping.kind == kind, LheoProgrammeMapping.code == code)
    mapping = (await db.execute(query)).unique().scalar_one_or_none()
    if mapping is None:
        mapping = LheoProgrammeMapping(kind=kind, code=code, programme_id=programme.id, updated_by=actor)
        db.add(mapping)
    else:
        mapping.programme_id = programme.id
        mapping.updated_by = actor
        mapping.updated_at = utcnow()
    await db.commit()
    return (await db.execute(query)).unique().scalar_one()


async def delete_mapping(db: AsyncSession, kind: str, code: str) -> None:
    query = select(LheoProgrammeMapping).where(LheoProgrammeMapping.kind == kind, LheoProgrammeMapping.code == code)
    mapping = (await db.execute(query)).unique().scalar_one_or_none()
    if mapping is None:
        raise NotFound(f"No mapping for {kind} {code!r}")
    await db.delete(mapping)
    await db.commit()


# ---------------------------------------------------------------- pulling a feed


@dataclass
class Fetched:
    status: int
    content: bytes | None = None
    etag: str | None = None
    last_modified: str | None = None
    error: str | None = None


async def _validators(db: AsyncSession, url: str) -> tuple[str | None, str | None]:
    """The ETag and Last-Modified of the last file of this feed that was read (imported or 304)."""
    query = (
        select(LheoPullRun)
        .where(LheoPullRun.feed_url == url, LheoPullRun.outcome.in_(("imported", "not-modified")))
        .order_by(LheoPullRun.started_at.desc())
        .limit(1)
    )
    last = (await db.execute(query)).scalar_one_or_none()
    return (last.etag, last.last_modified) if last else (None, None)


async def fetch(client: httpx.AsyncClient, url: str, etag: str | None, last_modified: str | None, max_bytes: int) -> Fetched:
    """GET with the validators; the body read up to `max_bytes` (more is an error, not a file)."""
    headers = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    try:
        async with client.stream("GET", url, headers=headers) as response:
            got = Fetched(response.status_code, etag=response.headers.get("etag"), last_modified=response.headers.get("last-modified"))
            if response.status_code == 304:
                got.etag, got.last_modified = etag, last_modified
                return got
            if response.status_code != 200:
                got.error = f"HTTP {response.status_code} from the feed"
                return got
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > max_bytes:
                    got.error = f"the file exceeds {max_bytes} bytes (lheo_max_bytes)"
                    return got
            got.content = bytes(body)
            return got
    except httpx.HTTPError as exc:
        return Fetched(0, error=f"the feed could not be fetched: {type(exc).__name__}: {exc}")


def _refusal(exc: ProblemError) -> str:
    """The 422's detail (it names the first error and its line) and its type."""
    return f"{exc.slug}: {exc.detail}"


async def pull_feed(runtime: Runtime, client: httpx.AsyncClient, url: str) -> LheoPullRun:
    """One pull of one feed, kept as a run (imported, not-modified or failed)."""
    async with runtime.db_factory() as db:
        etag, last_modified = await _validators(db, url)
    started = utcnow()
    got = await fetch(client, url, etag, last_modified, runtime.settings.lheo_max_bytes)
    async with runtime.db_factory() as db:
        run = LheoPullRun(feed_url=url, started_at=started, http_status=got.status or None, etag=got.etag,
                          last_modified=got.last_modified, closed_sessions=0)
        if got.status == 304:
            run.outcome = "not-modified"
        elif got.error or got.content is None:
            run.outcome, run.error = "failed", got.error or "no file"
        else:
            try:
                report = await import_without_commit(db, runtime, got.content, programme_code=None, places=None, feed=url)
            except ProblemError as exc:  # not LHEO, invalid against the XSD: nothing was written
                await db.rollback()
                run.outcome, run.error = "failed", _refusal(exc)
            except Exception as exc:  # the import itself failed: rolled back, the run says why
                log.exception("LHEO feed %s: the import failed", url)
                await db.rollback()
                run.outcome, run.error = "failed", f"the import failed, nothing changed: {type(exc).__name__}: {exc}"[:2000]
            else:
                run.outcome, run.report, run.closed_sessions = "imported", report.model_dump(mode="json"), len(report.closed)
        run.finished_at = utcnow()
        db.add(run)
        await db.commit()
        log.info("LHEO feed %s: %s%s", url, run.outcome, f" ({run.error})" if run.error else "")
        return run


async def pull_feeds_periodically(runtime: Runtime, stop: asyncio.Event) -> None:
    """Background job: every `lheo_feed_interval_s`, each of `lheo_feed_urls` (off by default),
    pulled by one instance per interval."""
    settings = runtime.settings
    if not settings.lheo_feed_urls:
        return
    async with httpx.AsyncClient(timeout=settings.lheo_feed_timeout_s, follow_redirects=True) as client:

        async def pull_all() -> str:
            outcomes = []
            for url in settings.lheo_feed_urls:
                try:
                    outcomes.append((await pull_feed(runtime, client, url)).outcome)
                except Exception:  # one feed's failure (a database outage) does not stop the others
                    log.exception("LHEO feed %s: the pull failed", url)
                    outcomes.append("failed")
            return ", ".join(f"{url}: {outcome}" for url, outcome in zip(settings.lheo_feed_urls, outcomes, strict=True))

        await run_on_schedule(runtime.db_factory, stop, scheduled_jobs, "lheo-feeds", settings.lheo_feed_interval_s, pull_all,
                              instance=INSTANCE_ID)
