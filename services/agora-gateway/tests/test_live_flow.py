"""The live flow end to end: trainee events on the real broker → gateway → sandbox over HTTP."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal

from agora_gateway.main import create_app
from pacte_common.auth import OrgKind
from pacte_common.bus import topic_name
from pacte_common.events import Topics
from pacte_testing import auth_header, eventually, read_topic, running
from pacte_testing.agora import VALID_NIRS, TraineeStory, programme, publish
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

JOURNEY = ["create", "enter", "interrupt", "resume", "exit", "settle"]


async def dossier(client, headers, dossier_id):
    response = await client.get(f"/dossiers/{dossier_id}", headers=headers)
    return response.json() if response.status_code == 200 else None


async def test_files_reach_agora_in_their_final_state_or_are_recorded_out_of_perimeter(make_settings, sandbox, bus_settings):
    settings = make_settings()
    region = auth_header(settings, OrgKind.REGION, "region")
    normal = TraineeStory()
    health = TraineeStory(programme=programme("VISA-SANITAIRE", category="health_social"))
    delegated = TraineeStory(programme=programme("ACCES-EMPLOI-FT", delegated=True))
    without_nir = TraineeStory(nir=None)
    cancelled = TraineeStory()
    async with running(create_app(settings)) as client:
        await publish(
            bus_settings,
            normal.full_journey() + health.full_journey() + delegated.full_journey() + [without_nir.enrolled(), without_nir.entered()]
            + [cancelled.enrolled(), cancelled.entered(), cancelled.cancelled()],
        )

        async def settled():
            view = await dossier(client, region, normal.dossier_id)
            return view and view["agora"]["state"] == "settled" and view

        view = await eventually(settled, timeout=30, message="the normal file settled at AGORA")
        assert [f["operation"] for f in view["flows"]] == JOURNEY
        assert {f["status"] for f in view["flows"]} == {"acknowledged"} and view["agora"]["in_sync"]
        held = sandbox.file(normal.dossier_id)
        assert held["state"] == "settled" and held["agora_file_id"] == view["agora"]["file_id"]
        assert held["settlement"] == {"realised_hours": "380", "hourly_price": "12.50", "cost": "4750.00"}
        assert held["nir"] == normal.nir[:13]
        assert [i["resumption_date"] for i in held["interruptions"]] == ["2026-02-16"]
        assert [o["operation"] for o in held["operations"]] == JOURNEY

        # out of perimeter: recorded with the reason, never sent
        health_view = await eventually(lambda: dossier(client, region, health.dossier_id), message="health file recorded")
        await eventually(lambda: _flows_count(client, region, health.dossier_id, 6))
        health_view = await dossier(client, region, health.dossier_id)
        assert health_view["perimeter"]["status"] == "excluded" and health_view["perimeter"]["reason_code"] == "health_social"
        assert {f["status"] for f in health_view["flows"]} == {"excluded"}
        delegated_view = await eventually(lambda: dossier(client, region, delegated.dossier_id))
        assert delegated_view["perimeter"]["status"] == "delegated"
        assert sandbox.file(health.dossier_id) is None and sandbox.file(delegated.dossier_id) is None

        # no NIR: the file waits, visibly; the NIR comes, the file is created with it
        waiting = await eventually(lambda: dossier(client, region, without_nir.dossier_id))
        assert waiting["waiting_for_nir"] and waiting["flows"][0]["waiting_reason"] == "waiting_for_nir"
        pending = (await client.get("/flows", params={"status": "pending", "dossier_id": str(without_nir.dossier_id)}, headers=region)).json()
        assert [f["operation"] for f in pending["items"]] == ["create", "enter"]

        async def waiting_metric():
            return "pacte_agora_dossiers_waiting_nir 1.0" in (await client.get("/metrics")).text

        await eventually(waiting_metric, message="waiting metric")
        assert sandbox.file(without_nir.dossier_id) is None
        await publish(bus_settings, [without_nir.identity_updated(VALID_NIRS[2])])

        async def created_with_nir():
            held = sandbox.file(without_nir.dossier_id)
            return held and held["state"] == "in_training" and held

        held = await eventually(created_with_nir, timeout=20, message="file created once the NIR came")
        assert held["nir"] == VALID_NIRS[2][:13]
        assert [o["operation"] for o in held["operations"]] == ["create", "enter"]  # the NIR travelled with the creation

        async def cancelled_at_agora():
            held = sandbox.file(cancelled.dossier_id)
            return held and held["state"] == "cancelled" and held

        held = await eventually(cancelled_at_agora, message="declared by mistake: cancelled at AGORA")
        assert [o["operation"] for o in held["operations"]] == ["create", "enter", "cancel"]

        metrics = await eventually(lambda: _metrics_settled(client), message="metrics")
        assert 'pacte_agora_flows{status="excluded"} 6.0' in metrics
        assert 'pacte_agora_flows{status="delegated"} 6.0' in metrics

        # the flow events, on the AGORA topic, without the NIR
        events = await read_topic(bus_settings, topic_name(bus_settings, Topics.AGORA_FLOWS), expect=22)
        acknowledged = [e for e in events if e.type.endswith("flow-acknowledged.v1")]
        assert len({e.data.flow_id for e in acknowledged}) == 11
        assert {e.type.rsplit(".", 2)[-2] for e in events} == {"flow-sent", "flow-acknowledged"}
        assert all(normal.nir[:13] not in e.data.model_dump_json() for e in events)

        # the NIR is never at rest in clear: identities and frozen requests are encrypted
        engine = create_async_engine(settings.database_url)
        try:
            async with engine.connect() as connection:
                for table in ("agora_dossiers", "agora_flows", "agora_flow_transitions", "outbox_messages"):
                    rows = (await connection.execute(text(f"SELECT * FROM {table}"))).all()
                    assert rows and not any(normal.nir[:13] in str(row) for row in rows), table
        finally:
            await engine.dispose()

        # access: operators only
        assert (await client.get(f"/dossiers/{normal.dossier_id}")).status_code == 401
        as_org = auth_header(settings, OrgKind.TRAINING_ORG, "73282932000074")
        assert (await client.get(f"/dossiers/{normal.dossier_id}", headers=as_org)).status_code == 403
        assert (await client.get(f"/dossiers/{uuid.uuid4()}", headers=region)).status_code == 404


async def _flows_count(client, headers, dossier_id, n):
    view = await dossier(client, headers, dossier_id)
    return view and len(view["flows"]) == n


def _metrics_settled(client):
    async def check():
        text = (await client.get("/metrics")).text
        return 'pacte_agora_flows{status="acknowledged"} 11.0' in text and text

    return check()


async def test_rejection_is_shown_then_resent_by_an_operator(make_settings, sandbox, bus_settings):
    settings = make_settings()
    region = auth_header(settings, OrgKind.REGION, "region")
    story = TraineeStory(siret="12345678901234")  # fails the SIRET check at AGORA
    async with running(create_app(settings)) as client:
        await publish(bus_settings, [story.enrolled()])

        async def rejected():
            page = (await client.get("/flows", params={"status": "rejected"}, headers=region)).json()
            return page["items"]

        [flow] = await eventually(rejected, timeout=20, message="create rejected")
        assert flow["operation"] == "create" and flow["rejection_code"] == "invalid_siret"
        assert flow["allowed_actions"] == ["retry"]

        # the data is fixed at the source; the next event carries it, and its flow waits its turn
        story.siret = "73282932000074"
        await publish(bus_settings, [story.entered()])
        await eventually(lambda: _flows_count(client, region, story.dossier_id, 2))
        view = await dossier(client, region, story.dossier_id)
        assert [f["status"] for f in view["flows"]] == ["rejected", "pending"]
        assert sandbox.file(story.dossier_id) is None

        detail = await client.get(f"/flows/{flow['flow_id']}", headers=region)
        stale = await client.post(f"/flows/{flow['flow_id']}/retry", headers=region | {"If-Match": '"1"'})
        assert stale.status_code == 412
        retried = await client.post(f"/flows/{flow['flow_id']}/retry", headers=region | {"If-Match": detail.headers["ETag"]})
        assert retried.status_code == 200, retried.text
        assert retried.json()["revision"] == 2 and retried.json()["idempotency_key"] != flow["idempotency_key"]

        async def in_training():
            held = sandbox.file(story.dossier_id)
            return held and held["state"] == "in_training" and held

        held = await eventually(in_training, timeout=20, message="resent and entered")
        assert held["organisation_siret"] == "73282932000074"
        again = await client.post(f"/flows/{flow['flow_id']}/retry", headers=region)
        assert again.status_code == 409 and again.json()["current_state"] == "acknowledged"
        log = (await client.get(f"/flows/{flow['flow_id']}", headers=region)).json()["transitions"]
        actions = [t["action"] for t in log]  # a busy machine may add requeue/claim pairs (timeouts)
        assert actions[0] == "queue" and actions[-1] == "acknowledge"
        assert actions.index("reject") < actions.index("retry") < actions.index("acknowledge")
        retry = log[actions.index("retry")]
        assert retry["actor"] == "region:region" and "invalid_siret" in retry["reason"]
        assert (retry["from_status"], retry["to_status"]) == ("rejected", "pending")


async def test_order_per_file_is_kept_when_agora_answers_with_random_latency(make_settings, sandbox, bus_settings):
    await sandbox.faults(latency_min_ms=0, latency_max_ms=40)
    stories = [TraineeStory() for _ in range(12)]
    async with running(create_app(make_settings())):
        await publish(bus_settings, [event for story in stories for event in story.full_journey()])

        async def all_settled():
            return all((sandbox.file(s.dossier_id) or {}).get("state") == "settled" for s in stories)

        await eventually(all_settled, timeout=60, message="every file settled")
    for story in stories:
        assert [o["operation"] for o in sandbox.file(story.dossier_id)["operations"]] == JOURNEY
    holdings = await sandbox.holdings()
    assert holdings["rejections"] == {} and holdings["files_total"] == 12


async def test_a_call_longer_than_the_lease_is_not_sent_twice_while_its_process_lives(make_settings, sandbox, bus_settings):
    """AGORA answers in 4.5-5 s, the lease is 2 s: the live dispatcher renews its claims' leases
    (every quarter of it), so no flow is claimed again and sent a second time."""
    await sandbox.faults(latency_min_ms=4500, latency_max_ms=5000)
    stories = [TraineeStory() for _ in range(3)]
    async with running(create_app(make_settings(dispatch_lease_s=2.0, agora_timeout_s=8.0))):
        await publish(bus_settings, [story.enrolled() for story in stories])

        async def all_created():
            return all((sandbox.file(s.dossier_id) or {}).get("state") == "created" for s in stories)

        await eventually(all_created, timeout=30, message="every file created")
        await asyncio.sleep(5.1)  # a second send, had there been one, is answered within the latency
    holdings = await sandbox.holdings()
    assert holdings["duplicates_absorbed"] == 0, "a live claim was taken again after its lease"


async def test_exactly_once_with_errors_and_timeouts(make_settings, sandbox, bus_settings):
    settings = make_settings(agora_timeout_s=0.3, send_attempts=2, dispatch_lease_s=3.0)
    await sandbox.faults(error_rate=0.15, timeout_rate=0.15, timeout_delay_s=0.6)
    stories = [TraineeStory() for _ in range(12)]
    region = auth_header(settings, OrgKind.REGION, "region")
    async with running(create_app(settings)) as client:
        await publish(bus_settings, [event for story in stories for event in story.full_journey()])

        async def all_settled():
            return all((sandbox.file(s.dossier_id) or {}).get("state") == "settled" for s in stories)

        await eventually(all_settled, timeout=90, message="every file settled despite faults")

        async def gateway_in_sync():
            views = [await dossier(client, region, story.dossier_id) for story in stories]
            return all(view["agora"]["in_sync"] and view["agora"]["state"] == "settled" for view in views)

        await eventually(gateway_in_sync, timeout=30, message="every acknowledgement recorded")
    holdings = await sandbox.holdings()
    assert holdings["files_total"] == 12 and holdings["files_by_state"] == {"settled": 12}
    assert holdings["operations_acknowledged"] == 12 * len(JOURNEY)  # each applied exactly once
    for story in stories:
        operations = sandbox.file(story.dossier_id)["operations"]
        assert [o["operation"] for o in operations] == JOURNEY
        assert len({o["idempotency_key"] for o in operations}) == len(JOURNEY)
    injected = holdings["faults_injected"]
    assert injected["errors"] > 0 and injected["timeouts"] > 0
    assert holdings["duplicates_absorbed"] > 0  # resends after timeouts were answered from memory
    assert Decimal(sandbox.file(stories[0].dossier_id)["settlement"]["cost"]) == Decimal("4750.00")
