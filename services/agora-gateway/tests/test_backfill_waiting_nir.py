"""Back-filled files without a NIR are kept, shown waiting, and sent when the NIR comes (docs/rules.md §6.4)."""

from __future__ import annotations

from datetime import date

from agora_gateway.main import create_app
from pacte_common.auth import OrgKind
from pacte_testing import auth_header, eventually, running
from pacte_testing.agora import TraineeStory, export_line, make_nir, ndjson, publish

# Waiting for the worker and the dispatcher, not timing them: generous for a loaded machine.
PATIENCE_S = 90.0


async def test_a_backfilled_file_without_nir_waits_visibly_then_goes_with_its_nir_before_its_later_flows(
    make_settings, sandbox, bus_settings, tmp_path
):
    settings = make_settings(backfill_batch_size=10)
    region = auth_header(settings, OrgKind.REGION, "region")
    waiting = TraineeStory(nir=None)
    waiting.status, waiting.entry_date = waiting.status.IN_TRAINING, date(2026, 1, 5)
    with_nir = TraineeStory()
    excluded_without_nir = TraineeStory(nir=None)
    lines = [
        export_line(waiting.dossier_id, nir=None, status="in_training", entry=date(2026, 1, 5)),
        export_line(with_nir.dossier_id, nir=with_nir.nir, status="in_training", entry=date(2026, 1, 5)),
        export_line(excluded_without_nir.dossier_id, nir=None, category="health_social"),
    ]
    export = tmp_path / "export.ndjson"
    export.write_text(ndjson(lines))

    async with running(create_app(settings)) as client:
        started = await client.post("/backfill", files={"file": ("export.ndjson", export.read_bytes())}, headers=region)
        assert started.status_code == 202, started.text

        async def completed():
            job = (await client.get(started.headers["location"], headers=region)).json()
            return job["status"] == "completed" and job

        job = await eventually(completed, timeout=PATIENCE_S, message="back-fill completed")
        report = job["report"]
        assert (report["waiting_nir"], report["sent"], report["acknowledged"], report["excluded"]) == (1, 1, 1, {"health_social": 1})

        # Kept and visible: the file, its flow and why it waits.
        held = (await client.get("/flows", params={"waiting_for_nir": "true"}, headers=region)).json()["items"]
        assert [(f["dossier_id"], f["operation"], f["status"], f["origin"], f["waiting_reason"]) for f in held] == [
            (str(waiting.dossier_id), "bulk_load", "pending", "backfill", "waiting_for_nir")
        ]
        others = (await client.get("/flows", params={"waiting_for_nir": "false", "origin": "backfill"}, headers=region)).json()["items"]
        assert sorted((f["dossier_id"], f["status"], f["waiting_reason"]) for f in others) == sorted(
            [(str(with_nir.dossier_id), "acknowledged", None), (str(excluded_without_nir.dossier_id), "excluded", None)]
        )
        view = (await client.get(f"/dossiers/{waiting.dossier_id}", headers=region)).json()
        assert view["waiting_for_nir"] is True and view["has_nir"] is False
        assert sandbox.file(waiting.dossier_id) is None, "nothing sent without the NIR"
        rejected = (await client.get(f"/backfill/{job['job_id']}/rejections", headers=region)).text
        assert '"missing_nir"' in rejected and str(waiting.dossier_id) in rejected, "listed for the operator to chase"

        # A live exit comes first: it queues behind the kept record.
        await publish(bus_settings, [waiting.exited()])

        async def queued_behind():
            flows = (await client.get("/flows", params={"dossier_id": str(waiting.dossier_id)}, headers=region)).json()["items"]
            return len(flows) >= 2 and flows

        flows = await eventually(queued_behind, timeout=PATIENCE_S, message="the exit queued")
        assert [(f["operation"], f["status"]) for f in flows][:2] == [("bulk_load", "pending"), ("exit", "pending")]
        assert sandbox.file(waiting.dossier_id) is None

        # The NIR arrives (the organisation completes the identity): the record goes with it, then the exit.
        nir = make_nir(4242)
        await publish(bus_settings, [waiting.identity_updated(nir)])

        async def at_agora():
            held = sandbox.file(waiting.dossier_id)
            return held and held["state"] != "in_training" and held

        file = await eventually(at_agora, timeout=PATIENCE_S, message="the file sent with its NIR, then its exit")
        assert file["nir"] == nir[:13]
        operations = [o["operation"] for o in file["operations"]]
        assert operations[:2] == ["bulk_load", "exit"] and "add_nir" not in operations

        async def in_sync():
            view = (await client.get(f"/dossiers/{waiting.dossier_id}", headers=region)).json()
            return view["agora"]["in_sync"] and view

        view = await eventually(in_sync, timeout=PATIENCE_S, message="acknowledgements recorded")
        assert view["waiting_for_nir"] is False
        assert (await client.get("/flows", params={"waiting_for_nir": "true"}, headers=region)).json()["items"] == []
