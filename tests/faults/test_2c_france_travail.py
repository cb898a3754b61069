"""France Travail on the whole suite: down (every call 503) while trainees enter, then back —
each file's certificates delivered in order, exactly once; an AES refused by code blocks only
its file, keeps the code and message, and goes once when an operator resends it.

Both scenarios share the package's supervised suite (one start); each drives its own cohort
over HTTP and reads the France Travail sandbox's log of what it received.
"""

from __future__ import annotations

import asyncio
import random
import time

import httpx
from france_travail_sandbox.settings import DEV_SANDBOX_TOKEN
from pacte_testing import eventually
from pacte_testing.france_travail import make_ft_id

CERTIFICATES = ["ais", "aes", "end"]  # a trainee's journey here: enrolment, entry, exit


def ft_sandbox(suite) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=suite.url("france-travail-sandbox"),
                             headers={"Authorization": f"Bearer {DEV_SANDBOX_TOKEN}"}, timeout=20)


def with_identifiers(trainees):
    seeds = random.sample(range(1, 7_000_000), len(trainees))
    for trainee, seed in zip(trainees, seeds, strict=True):
        trainee.france_travail_id = make_ft_id(seed)
    return trainees


async def received(sandbox: httpx.AsyncClient, dossier_id: str) -> list[str]:
    response = await sandbox.get("/v1/certificates", params={"reference": dossier_id})
    assert response.status_code == 200, response.text
    return [certificate["kind"] for certificate in response.json()["certificates"]]


async def ft_flows(c, dossier_id: str) -> list[dict]:
    response = await c.call(c.gateway, "GET", f"/france-travail/files/{dossier_id}")
    return response.json()["flows"] if response.status_code == 200 else []


async def all_acknowledged(c, trainee) -> bool:
    flows = await ft_flows(c, trainee.dossier_id)
    return [f["operation"] for f in flows] == CERTIFICATES and all(f["status"] == "acknowledged" for f in flows)


async def test_france_travail_down_then_back_each_file_in_order_exactly_once(supervised, cohort):
    suite, outage_s = supervised.suite, supervised.settings.france_travail_outage_s
    async with cohort() as c, ft_sandbox(suite) as sandbox, httpx.AsyncClient(base_url=suite.url("agora-gateway"), timeout=20) as gateway:
        session_id = await c.open_session()
        assert (await sandbox.put("/v1/faults", json={"down": True})).status_code == 200
        outage_started = time.monotonic()
        try:
            trainees = with_identifiers(c.trainees(supervised.settings.trainees))
            await asyncio.gather(*(c.journey(session_id, t) for t in trainees))

            async def reported_down():
                status = (await gateway.get("/health/status")).json()
                return status if any(r.startswith("France Travail unreachable") for r in status["reasons"]) else None

            during = await eventually(reported_down, max(outage_s, 30), interval=0.5, message="France Travail reported unreachable")
            nothing_received = [await received(sandbox, t.dossier_id) for t in trainees if t.dossier_id]
            waiting = [f["status"] for t in trainees if t.dossier_id for f in await ft_flows(c, t.dossier_id)]
            await asyncio.sleep(max(0.0, outage_s - (time.monotonic() - outage_started)))
        finally:
            await sandbox.put("/v1/faults", json={})
        outage = time.monotonic() - outage_started
        counts = await c.settle(trainees)
        for trainee in trainees:
            await eventually(lambda t=trainee: all_acknowledged(c, t), supervised.settings.deadline_s, interval=0.3,
                             message=f"France Travail certificates of {trainee.dossier_id} acknowledged")
        logs = {t.dossier_id: await received(sandbox, t.dossier_id) for t in trainees}
        keys = [f["idempotency_key"] for t in trainees for f in await ft_flows(c, t.dossier_id)]
        refused_calls = (await sandbox.get("/v1/faults")).json()["down"]
    c.report("France Travail down", counts, outage_s=round(outage, 1), refused_calls=refused_calls,
             certificates=sum(len(kinds) for kinds in logs.values()))
    problems = [p for t in trainees for p in t.problems]
    assert counts["lost"] == 0 and counts["duplicates"] == 0, problems
    assert all(kinds == [] for kinds in nothing_received), "nothing reached France Travail while it was down"
    assert waiting and not {"acknowledged", "rejected"} & set(waiting), "the flows waited, none given up"
    assert during["status"] == "degraded" and refused_calls > 0
    assert all(kinds == CERTIFICATES for kinds in logs.values()), f"each file's certificates once, in order: {logs}"
    assert len(set(keys)) == len(keys) == len(CERTIFICATES) * len(trainees)


async def test_refused_aes_blocks_only_its_file_and_goes_once_after_the_operator_resends(supervised, cohort):
    async with cohort() as c, ft_sandbox(supervised.suite) as sandbox:
        session_id = await c.open_session()
        refused, *others = trainees = with_identifiers(c.trainees(3))
        rule = {"kind": "aes", "france_travail_id": refused.france_travail_id, "code": "E_AES_HOURS",
                "message": "Horaires hebdomadaires incohérents"}
        assert (await sandbox.put("/v1/faults", json={"refusals": [rule]})).status_code == 200
        await asyncio.gather(*(c.journey(session_id, t) for t in trainees))
        assert not [p for t in trainees for p in t.problems]

        async def blocked():
            flows = await ft_flows(c, refused.dossier_id)
            return [(f["operation"], f["status"]) for f in flows] == [
                ("ais", "acknowledged"), ("aes", "rejected"), ("end", "pending")] and flows[1]

        rejected = await eventually(blocked, supervised.settings.deadline_s, interval=0.3, message="the refused AES blocks its file")
        for other in others:
            await eventually(lambda t=other: all_acknowledged(c, t), supervised.settings.deadline_s, interval=0.3,
                             message="the other files go on")
        assert (rejected["rejection_code"], rejected["rejection_message"]) == ("E_AES_HOURS", "Horaires hebdomadaires incohérents")
        assert rejected["allowed_actions"] == ["retry"]
        assert await received(sandbox, refused.dossier_id) == ["ais"], "nothing after the refused AES went"

        # the operator resends after the correction (the refusal rule is spent: France Travail accepts now)
        flow_url = f"/france-travail/flows/{rejected['flow_id']}"
        etag = (await c.call(c.gateway, "GET", flow_url)).headers["ETag"]
        resend = await c.call(c.gateway, "POST", f"{flow_url}/retry", headers={"If-Match": etag})
        assert resend.status_code == 200, resend.text
        await eventually(lambda: all_acknowledged(c, refused), supervised.settings.deadline_s, interval=0.3,
                         message="the resent AES and the end acknowledged")
        logs = {t.dossier_id: await received(sandbox, t.dossier_id) for t in trainees}
        refusals = (await sandbox.get("/v1/faults")).json()["refusals"]
    c.report("refused AES", {"trainees": len(trainees)}, refusals=refusals, resent_revision=resend.json()["revision"])
    assert all(kinds == CERTIFICATES for kinds in logs.values()), f"each file's certificates once, in order: {logs}"
    assert refusals == 1 and resend.json()["revision"] == 2
