"""The back-fill: counts, bad lines, perimeter, cut-off, an instance killed and the job taken over
by another (heartbeat), an export uploaded on one instance and run by another (kept sealed in
the database), and the live flow meanwhile."""

from __future__ import annotations

import asyncio
import json
import signal
import time
import uuid
from datetime import date, timedelta

import httpx
import pytest
import sqlalchemy as sa
from agora_gateway.app.backfill import (
    LeaseLost,
    claim_job,
    prepare,
    release_lease,
    renew_lease,
    run_claimed,
)
from agora_gateway.clients.agora import AgoraClient
from agora_gateway.db.models import BackfillChunk, BackfillJob
from agora_gateway.main import MIGRATIONS, create_app
from pacte_common import db as dbm
from pacte_common.auth import OrgKind
from pacte_common.clock import utcnow
from pacte_common.db import UTCDateTime, run_migrations
from pacte_testing import auth_header, eventually, read_topic, running
from pacte_testing.agora import (
    TraineeStory,
    export_line,
    gateway_environment,
    gateway_process,
    make_nir,
    ndjson,
    publish,
    serving,
)
from pacte_tools.agora_cli import app as cli
from pacte_tools.dev_issuer import mint_token
from sqlalchemy import select, update
from typer.testing import CliRunner

KINDS = 20  # one line in KINDS of each special kind below; the rest are sent and acknowledged


def generated_line(i: int) -> str:
    kind = i % KINDS
    line = export_line(nir=make_nir(i), status=["settled", "in_training", "interrupted", "exited", "enrolled", "cancelled"][i % 6])
    if line["status"] == "interrupted":
        line["interruptions"] = [{"start_date": "2018-04-02", "reason": "health"}]
    if kind == 0:
        line = export_line(nir=make_nir(i), entry=date(2016, 6, 1))  # before the cut-off
    elif kind == 1:
        line["agora_category"] = "health_social"
    elif kind == 2:
        line["agora_category"] = "psad"
    elif kind == 3:
        line["delegated_to_france_travail"] = True
    elif kind == 4:
        return '{"dossier_id": "not json' if i % (2 * KINDS) == 4 else json.dumps({"dossier_id": line["dossier_id"], "status": "settled"})
    elif kind == 5:
        line["organisation_siret"] = "12345678901234"  # AGORA rejects: invalid_siret
    elif kind == 6:
        line["person"]["nir"] = None
    elif kind == 7:
        line = export_line(nir=make_nir(i), status="settled")
        line["settlement"]["cost"] = "1.00"  # AGORA rejects: cost_mismatch
    return json.dumps(line)


def expected_report(n: int) -> dict:
    per_kind = n // KINDS
    return {
        "read": n,
        "invalid": per_kind,
        "skipped_by_date": per_kind,
        "excluded": {"health_social": per_kind, "psad": per_kind},
        "excluded_total": 2 * per_kind,
        "delegated": per_kind,
        "waiting_nir": per_kind,
        "already_known": 0,
        "sent": n - 6 * per_kind,
        "acknowledged": n - 8 * per_kind,
        "rejected": {"cost_mismatch": per_kind, "invalid_siret": per_kind},
        "rejected_total": 2 * per_kind,
    }


async def _chunks(database_url: str, job_id=None) -> list[tuple[int, bytes]]:
    """The export's chunks as stored (raw, sealed): (number, bytes)."""
    engine = dbm.create_engine(database_url)
    try:
        async with engine.connect() as connection:
            query = select(BackfillChunk.number, BackfillChunk.sealed).order_by(BackfillChunk.job_id, BackfillChunk.number)
            if job_id is not None:
                query = query.where(BackfillChunk.job_id == uuid.UUID(str(job_id)))
            return [(n, bytes(b)) for n, b in (await connection.execute(query)).all()]
    finally:
        await engine.dispose()


async def test_backfill_of_tens_of_thousands_of_lines_instance_killed_half_way_and_taken_over(make_settings, sandbox, tmp_path, database_url):
    """Two instances on one database, each with its own disk: A receives the export and runs the
    job, B waits; A is killed half way, B takes the job over within about one lease (A's
    heartbeat stopped) and finishes it: every file loaded exactly once, the report complete."""
    n = 20_000
    lease_s = 2.0
    export = tmp_path / "export.ndjson"
    with export.open("w") as out:
        for i in range(n):
            out.write(generated_line(i) + "\n")
    # small chunks: lines span chunks, and the take-over resumes inside one
    settings = make_settings(backfill_batch_size=500, backfill_lease_s=lease_s, backfill_upload_chunk_bytes=256 * 1024)
    region = auth_header(settings, OrgKind.REGION, "region")
    env_a = gateway_environment(settings, data_dir=str(tmp_path / "a"))
    env_a["PACTE_INSTANCE_ID"] = "gateway-a"
    env_b = gateway_environment(settings, data_dir=str(tmp_path / "b"))
    env_b["PACTE_INSTANCE_ID"] = "gateway-b"

    async with gateway_process(env_a, tmp_path / "gateway-a.log") as (url_a, first):
        async with httpx.AsyncClient(base_url=url_a, headers=region, timeout=60) as client:
            with export.open("rb") as body:
                started = await client.post("/backfill", files={"file": ("export.ndjson", body)}, headers={"Idempotency-Key": "bf-1"})
            assert started.status_code == 202, started.text
            job_id = started.json()["job_id"]

            async def going():
                job = (await client.get(f"/backfill/{job_id}")).json()
                return job["lines_read"] > 0 and job

            assert (await eventually(going, timeout=60, message="A runs the job"))["held_by"] == "gateway-a"
            async with gateway_process(env_b, tmp_path / "gateway-b.log") as (url_b, _):
                async with httpx.AsyncClient(base_url=url_b, headers=region, timeout=60) as other:

                    async def half_way():
                        job = (await client.get(f"/backfill/{job_id}")).json()
                        return job["lines_read"] >= n // 2 and job

                    at_kill = await eventually(half_way, timeout=120, message="half of the file read")
                    assert at_kill["held_by"] == "gateway-a"  # B waited: A's heartbeat kept the lease
                    first.send_signal(signal.SIGKILL)
                    await first.wait()
                    killed_at = time.monotonic()

                    async def taken_over():
                        job = (await other.get(f"/backfill/{job_id}")).json()
                        return job["held_by"] == "gateway-b" and job

                    await eventually(taken_over, timeout=30, interval=0.05, message="B takes the job over")
                    took_s = time.monotonic() - killed_at
                    print(f"back-fill taken over {took_s:.2f}s after the kill (lease {lease_s}s)")
                    # A's last renewal was at most a quarter lease before the kill: B claims it
                    # within the rest of that lease, plus its poll (loaded machines: some slack)
                    assert took_s < lease_s + 2.0, f"taken over after {took_s:.1f}s"
                    status = (await other.get("/health/status")).json()
                    backfill = status["components"]["backfill"]
                    if backfill["active"]:  # still running: B says it holds it
                        assert [j["job_id"] for j in backfill["jobs_held"]] == [job_id]
                        assert [(j["job_id"], j["held_by"]) for j in backfill["active"]] == [(job_id, "gateway-b")]

                    async def completed():
                        job = (await other.get(f"/backfill/{job_id}")).json()
                        return job["status"] == "completed" and job

                    job = await eventually(completed, timeout=150, message="back-fill completed by B")
                    assert job["report"] == expected_report(n)
                    assert job["lines_read"] == n and job["progress"] == 1.0 and job["held_by"] is None
                    assert await _chunks(database_url, job_id) == []  # the export (NIRs) deleted with the job

                    rejected = []
                    async with other.stream("GET", f"/backfill/{job_id}/rejections") as response:
                        async for line in response.aiter_lines():
                            if line:
                                rejected.append(json.loads(line))
                    codes: dict[str, int] = {}
                    for row in rejected:
                        codes[row["code"]] = codes.get(row["code"], 0) + 1
                    per_kind = n // KINDS
                    assert codes == {"not_json": per_kind // 2, "invalid_field": per_kind // 2, "missing_nir": per_kind,
                                     "invalid_siret": per_kind, "cost_mismatch": per_kind}
                    for row in rejected:
                        if row["stage"] == "agora":  # the exported line itself, for the operator to fix
                            assert json.loads(row["line"])["dossier_id"] == row["dossier_id"]
                        assert row["line"] and row["line_no"] >= 1

                    replay = await other.post("/backfill", files={"file": ("export.ndjson", export.read_bytes())},
                                              headers={"Idempotency-Key": "bf-1"})
                    assert replay.json()["job_id"] == job_id  # the same upload again starts nothing
                    assert await _chunks(database_url) == []  # and leaves no copy behind
                    assert len((await other.get("/backfill")).json()) == 1

    holdings = await sandbox.holdings()
    assert holdings["files_total"] == expected_report(n)["acknowledged"]  # nothing loaded twice
    assert holdings["rejections"] == {"cost_mismatch": per_kind, "invalid_siret": per_kind}
    assert all(len(f.operations) == 1 for f in sandbox.store.files.values())


async def test_export_uploaded_on_one_instance_is_run_by_another_and_kept_sealed(make_settings, sandbox, tmp_path, database_url):
    """A receives the upload (and runs no job), on nothing of its disk. The database holds the
    export sealed (no NIR in clear), a replayed key leaves no copy, a runner whose lease was
    taken writes nothing, and B, on another disk, loads every file exactly once."""
    n = 400
    lines = [generated_line(i) for i in range(n)]
    nirs = [json.loads(line)["person"]["nir"] for line in lines if line.startswith("{") and '"person"' in line]
    nirs = [nir for nir in nirs if nir]
    body = "\n".join(lines).encode()  # no newline at the end: the last line ends with the export
    fast = dict(backfill_batch_size=50, backfill_upload_chunk_bytes=4096, backfill_lease_s=2.0)
    settings_a = make_settings(data_dir=tmp_path / "a", run_background_tasks=False, **fast)
    settings_b = make_settings(data_dir=tmp_path / "b", **fast)
    region = auth_header(settings_a, OrgKind.REGION, "region")

    app_a = create_app(settings_a)
    async with running(app_a) as a:
        started = await a.post("/backfill", files={"file": ("export.ndjson", body)}, headers={**region, "Idempotency-Key": "k-1"})
        assert started.status_code == 202, started.text
        job_id = started.json()["job_id"]
        assert started.json()["status"] == "queued"
        chunks = await _chunks(database_url)
        assert [number for number, _ in chunks] == list(range(-(-len(body) // 4096)))
        assert len(nirs) > 300
        for _, sealed in chunks:
            assert b'"person"' not in sealed and b"dossier_id" not in sealed  # no export line in clear
            assert not any(nir.encode() in sealed or nir[:13].encode() in sealed for nir in nirs)

        replay = await a.post("/backfill", files={"file": ("export.ndjson", body)}, headers={**region, "Idempotency-Key": "k-1"})
        assert replay.json()["job_id"] == job_id
        other = await a.post("/backfill", files={"file": ("other.ndjson", b"{}\n")}, headers={**region, "Idempotency-Key": "k-1"})
        assert other.status_code == 422  # the key used for another file
        assert await _chunks(database_url) == chunks  # neither left a copy
        assert [j["job_id"] for j in (await a.get("/backfill", headers=region)).json()] == [job_id]

        # a runner whose lease ran out and was taken writes nothing and stops
        runtime = app_a.state.runtime
        stale = await claim_job(runtime)
        assert stale is not None
        async with runtime.db_factory() as db, db.begin():
            await db.execute(update(BackfillJob).values(lease_until=utcnow() - timedelta(seconds=1)))
        taken = await claim_job(runtime)
        assert taken is not None and taken.number == stale.number + 1
        assert not await renew_lease(runtime, stale) and await renew_lease(runtime, taken)
        try:
            await prepare(runtime, stale, [(1, lines[10])], 100, 1)
            raise AssertionError("a stale runner wrote")
        except LeaseLost:
            pass
        async with AgoraClient(settings_a) as client:
            await asyncio.wait_for(run_claimed(runtime, client, stale, asyncio.Event()), 10)
        job = (await a.get(f"/backfill/{job_id}", headers=region)).json()
        assert job["lines_read"] == 0 and job["bytes_processed"] == 0 and job["report"]["read"] == 0
        await release_lease(runtime, taken)
    assert not (tmp_path / "a").exists()  # A's disk holds nothing of the export

    async with running(create_app(settings_b)) as b:

        async def completed():
            job = (await b.get(f"/backfill/{job_id}", headers=region)).json()
            return job["status"] == "completed" and job

        job = await eventually(completed, timeout=60, message="B ran the job")
        assert job["report"] == expected_report(n) and job["lines_read"] == n and job["bytes_processed"] == len(body)
    assert await _chunks(database_url) == []  # deleted with the job
    holdings = await sandbox.holdings()
    assert holdings["files_total"] == expected_report(n)["acknowledged"]
    assert all(len(f.operations) == 1 for f in sandbox.store.files.values())


async def test_bad_lines_reported_and_live_flow_meanwhile_ends_in_the_right_state(make_settings, sandbox, bus_settings, tmp_path):
    # AGORA misbehaves all along: 503s, and timeouts after it processed the call
    settings = make_settings(backfill_batch_size=50, agora_timeout_s=0.4, send_attempts=2)
    await sandbox.faults(error_rate=0.2, timeout_rate=0.2, timeout_delay_s=0.6)
    region = auth_header(settings, OrgKind.REGION, "region")
    live_first = TraineeStory()  # the live flow knows it before the back-fill reaches its line
    loaded_first = TraineeStory()  # back-filled, then the live flow moves it
    racing = TraineeStory()  # its line comes late in the file, its live exit comes at once
    badly_exported = TraineeStory()  # AGORA rejects its export line; the live flow then creates it

    def line_of(story: TraineeStory) -> dict:
        return export_line(story.dossier_id, nir=story.nir, status="in_training", entry=date(2026, 1, 5))

    filler = [export_line(nir=make_nir(10_000 + i)) for i in range(400)]
    bad = ["garbage", "", "[1, 2]", json.dumps({"dossier_id": "x"}), json.dumps(export_line(nir="123"))]
    lines = [line_of(loaded_first), *bad, line_of(live_first), dict(line_of(badly_exported), organisation_siret="12345678901234"),
             *filler, line_of(racing)]
    export = tmp_path / "export.ndjson"
    export.write_text(ndjson(lines))

    async with running(create_app(settings)) as client:
        await publish(bus_settings, [live_first.enrolled(), live_first.entered(), live_first.exited()])

        async def known():
            return (await client.get(f"/dossiers/{live_first.dossier_id}", headers=region)).status_code == 200

        await eventually(known, message="live file known")
        # the CLI, against the gateway over real HTTP, with its progress bar
        async with serving(client._transport.app) as url:  # type: ignore[attr-defined]
            token = mint_token(settings, OrgKind.REGION, "region")
            run = asyncio.create_task(asyncio.to_thread(
                CliRunner().invoke, cli, ["backfill", str(export), "--gateway-url", url, "--token", token, "--poll-interval", "0.1"]
            ))
            await publish(bus_settings, [racing.enrolled(), racing.entered(), racing.exited()])
            result = await run
            assert result.exit_code == 0, result.output
            assert "acknowledged" in result.output and "lines read" in result.output
        jobs = (await client.get("/backfill", headers=region)).json()
        report = jobs[0]["report"]
        assert report["read"] == len(lines) - 1  # the empty line is not a line
        assert report["invalid"] == 4 and report["sent"] + report["already_known"] == 404
        assert report["rejected"] == {"invalid_siret": 1}

        await publish(bus_settings, [loaded_first.exited()] + badly_exported.full_journey())

        async def settled(story):
            held = sandbox.file(story.dossier_id)
            return held and held["state"] == "settled" and held

        for story in (live_first, loaded_first, racing, badly_exported):
            await eventually(lambda story=story: settled(story), timeout=30, message="file settled at AGORA")
        assert [o["operation"] for o in sandbox.file(live_first.dossier_id)["operations"]] == ["create", "enter", "exit", "settle"]
        assert [o["operation"] for o in sandbox.file(loaded_first.dossier_id)["operations"]] == ["bulk_load", "exit", "settle"]
        assert [o["operation"] for o in sandbox.file(badly_exported.dossier_id)["operations"]] == [
            "create", "enter", "interrupt", "resume", "exit", "settle"
        ]
        async def in_sync():
            view = (await client.get(f"/dossiers/{loaded_first.dossier_id}", headers=region)).json()
            return view["agora"]["in_sync"] and view

        view = await eventually(in_sync, message="acknowledgements recorded")
        assert [(f["operation"], f["status"]) for f in view["flows"]] == [
            ("bulk_load", "acknowledged"), ("exit", "acknowledged"), ("settle", "acknowledged")
        ]
        holdings = await sandbox.holdings()
        assert holdings["rejections"] == {"invalid_siret": 1} and holdings["files_total"] == 404  # each file once
        assert holdings["faults_injected"]["errors"] > 0 and holdings["faults_injected"]["timeouts"] > 0
        assert all(len([o for o in f.operations if o["operation"] == "bulk_load"]) <= 1 for f in sandbox.store.files.values())
        rows = [json.loads(x) for x in (await client.get(f"/backfill/{jobs[0]['job_id']}/rejections", headers=region)).text.splitlines()]
        assert sorted(r["code"] for r in rows) == ["invalid_field", "invalid_field", "invalid_siret", "not_an_object", "not_json"]
        assert {r["line"] for r in rows if r["stage"] == "line"} == set(bad) - {""}


@pytest.mark.empty_database
async def test_the_upgrade_fails_the_jobs_whose_export_was_on_a_disk(database_url):
    """Jobs queued or running when the export moved into the database: failed, saying why."""
    await asyncio.to_thread(run_migrations, database_url, MIGRATIONS, None, "f7a2c41d9e08")  # exports on disk
    jobs = sa.table("backfill_jobs", sa.column("id", sa.Uuid), sa.column("status", sa.String), sa.column("filename", sa.String),
                    sa.column("file_path", sa.String), sa.column("sha256", sa.String), sa.column("size_bytes", sa.Integer),
                    sa.column("byte_offset", sa.Integer), sa.column("line_no", sa.Integer), sa.column("next_batch", sa.Integer),
                    sa.column("report", sa.JSON), sa.column("created_by", sa.String), sa.column("created_at", UTCDateTime))
    ids = {status: uuid.uuid4() for status in ("queued", "running", "completed")}
    engine = dbm.create_engine(database_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(sa.insert(jobs), [dict(id=job_id, status=status, filename="e.ndjson", file_path="/x/e.ndjson",
                                                            sha256="0" * 64, size_bytes=10, byte_offset=0, line_no=0, next_batch=1,
                                                            report={}, created_by="region", created_at=utcnow())
                                                       for status, job_id in ids.items()])
        await dbm.migrate(database_url, MIGRATIONS)
        async with engine.connect() as connection:
            rows = {row.id: row for row in (await connection.execute(
                select(BackfillJob.id, BackfillJob.status, BackfillJob.error, BackfillJob.finished_at, BackfillJob.claims))).all()}
    finally:
        await engine.dispose()
    assert rows[ids["completed"]].status == "completed" and rows[ids["completed"]].error is None
    for status in ("queued", "running"):
        row = rows[ids[status]]
        assert row.status == "failed" and "upload it again" in row.error and row.finished_at is not None and row.claims == 0


async def test_one_acknowledgement_event_per_batch_as_the_catalogue_says(make_settings, sandbox, bus_settings):
    """A batch's acknowledged files are told in one bulk-batch-acknowledged event (key: the job),
    split in parts past BACKFILL_EVENT_MAX_FILES; a rejected file keeps its own flow-rejected
    event (key: the file); no flow-acknowledged per back-filled file; every payload is what the
    AsyncAPI catalogue says, and carries no NIR."""
    from jsonschema import Draft202012Validator
    from pacte_common.asyncapi import build_asyncapi, payload_schema
    from pacte_common.bus import topic_name
    from pacte_common.events import Topics

    n = 120  # 6 lines of each special kind; 4 batches of 30 lines, 14, 22, 14 and 22 files acknowledged
    lines = [generated_line(i) for i in range(n)]
    nirs = {json.loads(line)["person"]["nir"] for line in lines if line.startswith("{") and '"person"' in line} - {None}
    settings = make_settings(backfill_batch_size=30, backfill_event_max_files=15)
    region = auth_header(settings, OrgKind.REGION, "region")
    async with running(create_app(settings)) as client:
        started = await client.post("/backfill", files={"file": ("export.ndjson", "\n".join(lines).encode())}, headers=region)
        job_id = started.json()["job_id"]

        async def completed():
            job = (await client.get(f"/backfill/{job_id}", headers=region)).json()
            return job["status"] == "completed" and job

        report = (await eventually(completed, timeout=60, message="back-fill completed"))["report"]
        assert report == expected_report(n)
        rejected = report["rejected_total"]
        # 6 batch events (the batches of 22 files in two parts of at most 15) and one per rejected file
        envelopes = await read_topic(bus_settings, topic_name(bus_settings, Topics.AGORA_FLOWS), expect=6 + rejected)

    document = build_asyncapi()
    for envelope in envelopes:
        Draft202012Validator(payload_schema(document, envelope.type)).validate(json.loads(envelope.body()))
        raw = envelope.body().decode() + str(envelope.headers())
        assert not [nir for nir in nirs if nir in raw or nir[:13] in raw]
    by_type: dict[str, list] = {}
    for envelope in envelopes:
        by_type.setdefault(envelope.type.rsplit(".", 2)[-2], []).append(envelope)
    assert set(by_type) == {"bulk-batch-acknowledged", "flow-rejected"}
    batches = by_type["bulk-batch-acknowledged"]
    assert all(e.subject == job_id and str(e.data.job_id) == job_id for e in batches)
    files = [f for e in batches for f in e.data.files]
    assert len(files) == len({f.dossier_id for f in files}) == report["acknowledged"]
    assert all(len(e.data.files) <= 15 and e.data.idempotency_key == f"pacte-backfill-{job_id}-b{e.data.batch}" for e in batches)
    parts: dict[int, list] = {}
    for e in batches:
        parts.setdefault(e.data.batch, []).append((e.data.part, e.data.parts))
    assert len(parts) == 4
    assert all(sorted(p) == [(i, len(p)) for i in range(1, len(p) + 1)] for p in parts.values())
    assert len(batches) == 6 and sorted(len(p) for p in parts.values()) == [1, 1, 2, 2]
    assert all(sandbox.store.by_ref[str(f.dossier_id)] == f.agora_file_id and f.agora_file_state for f in files)
    assert len(by_type["flow-rejected"]) == rejected
    assert all(e.subject == str(e.data.dossier_id) and e.data.operation == "bulk_load" for e in by_type["flow-rejected"])
