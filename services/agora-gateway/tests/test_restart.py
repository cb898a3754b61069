"""The gateway killed (SIGKILL) in the middle of the flows and restarted loses nothing, sends nothing twice."""

from __future__ import annotations

import signal

import httpx
from pacte_common.auth import OrgKind
from pacte_testing import auth_header, eventually
from pacte_testing.agora import TraineeStory, gateway_environment, gateway_process, publish

JOURNEY = ["create", "enter", "interrupt", "resume", "exit", "settle"]


async def test_gateway_killed_in_the_middle_and_restarted_loses_nothing(make_settings, sandbox, bus_settings, tmp_path):
    settings = make_settings(dispatch_lease_s=2.0, agora_timeout_s=1.0)
    env = gateway_environment(settings)
    await sandbox.faults(latency_min_ms=20, latency_max_ms=60)
    stories = [TraineeStory() for _ in range(16)]
    total = len(stories) * len(JOURNEY)
    region = auth_header(settings, OrgKind.REGION, "region")

    async with gateway_process(env, tmp_path / "gateway-1.log") as (_, first):
        await publish(bus_settings, [event for story in stories for event in story.full_journey()])

        async def under_way():
            done = (await sandbox.holdings())["operations_acknowledged"]
            return 10 <= done and done

        done_before_kill = await eventually(under_way, timeout=60, message="flows under way")
        first.send_signal(signal.SIGKILL)
        await first.wait()
    assert done_before_kill < total, "the kill must come in the middle"

    async with gateway_process(env, tmp_path / "gateway-2.log") as (url, _):

        async def all_settled():
            return all((sandbox.file(s.dossier_id) or {}).get("state") == "settled" for s in stories)

        await eventually(all_settled, timeout=90, message="every file settled after the restart")
        async with httpx.AsyncClient(base_url=url, headers=region) as client:

            async def in_sync():
                views = [(await client.get(f"/dossiers/{s.dossier_id}")).json() for s in stories]
                return all(v["agora"]["in_sync"] for v in views) and views

            views = await eventually(in_sync, timeout=30, message="gateway in sync")
            assert all([f["operation"] for f in v["flows"]] == JOURNEY for v in views)  # nothing planned twice

    holdings = await sandbox.holdings()
    assert holdings["files_total"] == len(stories) and holdings["files_by_state"] == {"settled": len(stories)}
    assert holdings["operations_acknowledged"] == total
    assert holdings["rejections"] == {}
    for story in stories:
        assert [o["operation"] for o in sandbox.file(story.dossier_id)["operations"]] == JOURNEY
