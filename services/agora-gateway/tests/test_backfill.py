"""The back-fill: counts, bad lines, perimeter, cut-off, kill and resume, and the live flow meanwhile."""

from __future__ import annotations

import asyncio
import json
import signal
from datetime import date

import httpx
from agora_gateway.main import create_app
from pacte_common.auth import OrgKind
from pacte_testing import auth_header, eventually, running
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


async def test_backfill_of_tens_of_thousands_of_lines_killed_half_way_and_resumed(make_settings, sandbox, tmp_path):
    n = 20_000
    export = tmp_path / "export.ndjson"
    with export.open("w") as out:
        for i in range(n):
            out.write(generated_line(i) + "\n")
    settings = make_settings(backfill_batch_size=500, backfill_lease_s=3.0)
    env = gateway_environment(settings)
    region = auth_header(settings, OrgKind.REGION, "region")

    async with gateway_process(env, tmp_path / "gateway-1.log") as (url, first):
        async with httpx.AsyncClient(base_url=url, headers=region, timeout=60) as client:
            with export.open("rb") as body:
                started = await client.post("/backfill", files={"file": ("export.ndjson", body)}, headers={"Idempotency-Key": "bf-1"})
            assert started.status_code == 202, started.text
            job_id = started.json()["job_id"]

            async def half_way():
                job = (await client.get(f"/backfill/{job_id}")).json()
                return job["lines_read"] >= n // 2 and job

            at_kill = await eventually(half_way, timeout=120, message="half of the file read")
        first.send_signal(signal.SIGKILL)
        await first.wait()
    assert at_kill["status"] == "running" and at_kill["lines_read"] < n

    async with gateway_process(env, tmp_path / "gateway-2.log") as (url, _):
        async with httpx.AsyncClient(base_url=url, headers=region, timeout=60) as client:

            async def completed():
                job = (await client.get(f"/backfill/{job_id}")).json()
                return job["status"] == "completed" and job

            job = await eventually(completed, timeout=150, message="back-fill completed after the restart")
            assert job["report"] == expected_report(n)
            assert job["lines_read"] == n and job["progress"] == 1.0

            rejected = []
            async with client.stream("GET", f"/backfill/{job_id}/rejections") as response:
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

            replay = await client.post("/backfill", files={"file": ("export.ndjson", export.read_bytes())}, headers={"Idempotency-Key": "bf-1"})
            assert replay.json()["job_id"] == job_id  # the same upload again starts nothing

    holdings = await sandbox.holdings()
    assert holdings["files_total"] == expected_report(n)["acknowledged"]  # nothing loaded twice
    assert holdings["rejections"] == {"cost_mismatch": per_kind, "invalid_siret": per_kind}
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
