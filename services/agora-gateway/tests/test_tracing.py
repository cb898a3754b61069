"""One trace per journey: a file keeps the trace of the trainee events that describe it (sessions
publishes them in the file's journey trace); every call to AGORA about the file, and every flow
event about it, continues that trace — even a resend an operator asks for in a request of his own."""

from __future__ import annotations

import os

from agora_gateway.main import create_app
from pacte_common.auth import OrgKind
from pacte_common.bus import topic_name
from pacte_common.events import Topics
from pacte_common.tracing import new_traceparent, trace_id_of
from pacte_testing import auth_header, eventually, read_topic, running
from pacte_testing.agora import VALID_NIRS, TraineeStory, publish

JOURNEY = ["create", "enter", "interrupt", "resume", "exit", "settle"]


def traced(headers: dict, traceparent: str) -> dict:
    return {**headers, "traceparent": traceparent}


async def test_calls_to_agora_and_flow_events_carry_the_files_journey_trace(make_settings, sandbox, bus_settings):
    settings = make_settings()
    region = auth_header(settings, OrgKind.REGION, "region")
    journey, later_trace = os.urandom(16).hex(), os.urandom(16).hex()
    story = TraineeStory()
    late = TraineeStory(nir=None)  # its first event carries no trace; a later one does
    # AGORA refuses the entry once: an operator resends it, in a request trace of his own
    await sandbox.faults(rejections=[{"operation": "enter", "code": "dates_out_of_order", "message": "refused once"}])
    published = [new_traceparent(journey), new_traceparent(journey), new_traceparent(later_trace)]
    async with running(create_app(settings)) as client:
        # sessions publishes every trainee event of the file with the file's trace (new spans)
        await publish(bus_settings, [story.enrolled()], traceparent=published[0])
        await publish(bus_settings, [story.entered(), story.interrupted(), story.resumed(), story.exited()], traceparent=published[1])
        await publish(bus_settings, [late.enrolled()])

        async def rejected():
            page = await client.get("/flows", params={"status": "rejected", "dossier_id": str(story.dossier_id)}, headers=traced(region, new_traceparent()))
            return page.json()["items"]

        [flow] = await eventually(rejected, timeout=20, message="the entry rejected once")
        assert flow["operation"] == "enter" and flow["trace_id"] == journey

        operator_tp = new_traceparent()
        retried = await client.post(f"/flows/{flow['flow_id']}/retry", headers=traced(region, operator_tp))
        assert retried.status_code == 200, retried.text
        assert retried.headers["traceparent"] == operator_tp  # the request has its own trace...
        assert retried.json()["trace_id"] == journey  # ...the file keeps its journey's

        async def settled():
            view = (await client.get(f"/dossiers/{story.dossier_id}", headers=traced(region, new_traceparent()))).json()
            return view.get("agora", {}).get("state") == "settled" and view

        view = await eventually(settled, timeout=30, message="the file settled at AGORA")
        assert view["trace_id"] == journey
        assert [(f["operation"], f["trace_id"]) for f in view["flows"]] == [(op, journey) for op in JOURNEY]
        listed = (await client.get("/flows", params={"dossier_id": str(story.dossier_id)}, headers=region)).json()["items"]
        assert {f["trace_id"] for f in listed} == {journey} and len(listed) == len(JOURNEY)
        detail = (await client.get(f"/flows/{flow['flow_id']}", headers=region)).json()
        assert detail["trace_id"] == journey

        # AGORA received every operation about the file in the journey's trace
        holdings = await sandbox.holdings(funder_ref=str(story.dossier_id))
        [held] = holdings["files"]
        assert [(o["operation"], o["trace_id"]) for o in held["operations"]] == [(op, journey) for op in JOURNEY]
        one = await sandbox.client.get(f"/v1/files/{held['agora_file_id']}")
        assert {o["trace_id"] for o in one.json()["operations"]} == {journey}

        # a file known without trace takes the first one a later event brings
        waiting = (await client.get(f"/dossiers/{late.dossier_id}", headers=region)).json()
        assert waiting["waiting_for_nir"] and waiting["trace_id"] is None
        assert {f["trace_id"] for f in waiting["flows"]} == {None}
        await publish(bus_settings, [late.identity_updated(VALID_NIRS[2])], traceparent=published[2])

        async def created():
            return sandbox.file(late.dossier_id)

        held_late = await eventually(created, timeout=20, message="the late file created once its NIR came")
        assert [(o["operation"], o["trace_id"]) for o in held_late["operations"]] == [("create", later_trace)]
        late_view = (await client.get(f"/dossiers/{late.dossier_id}", headers=region)).json()
        assert late_view["trace_id"] == later_trace and {f["trace_id"] for f in late_view["flows"]} == {later_trace}

        # the flow events: every one about a file in that file's trace, each a span of its own
        # (story: 5 flows sent + acknowledged, the entry sent, rejected, resent, acknowledged; late: create)
        events = await read_topic(bus_settings, topic_name(bus_settings, Topics.AGORA_FLOWS), expect=16)
        by_file: dict[str, list[str | None]] = {}
        for envelope in events:
            by_file.setdefault(envelope.subject, []).append(trace_id_of(envelope.traceparent))
        assert by_file == {str(story.dossier_id): [journey] * 14, str(late.dossier_id): [later_trace] * 2}
        assert not {e.traceparent for e in events} & set(published)
        rejections = [e for e in events if e.type.endswith("flow-rejected.v1")]
        assert len(rejections) == 1 and trace_id_of(rejections[0].traceparent) == journey
