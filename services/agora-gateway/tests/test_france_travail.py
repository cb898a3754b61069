"""France Travail on the outbound engine, end to end: trainee events on the real broker → the
gateway → the France Travail sandbox over real HTTP, with its faults (down then back, a refused
AES, an unknown identifier, an identifier in the wrong format, a lost answer sent again)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from agora_gateway.domain.france_travail import MalformedAnswer, benefit_of
from agora_gateway.main import create_app
from pacte_common.auth import OrgKind
from pacte_common.bus import topic_name
from pacte_common.events import Topics
from pacte_testing import auth_header, eventually, read_topic, running
from pacte_testing.agora import TraineeStory, programme, publish
from pacte_testing.france_travail import make_ft_id, running_ft_sandbox
from pacte_testing.remuneration import NIR

JOURNEY = ["ais", "aes", "interruption", "resumption", "end"]


@pytest.fixture
async def ft_sandbox():
    async with running_ft_sandbox() as running:
        yield running


async def ft_file(client, headers, story):
    response = await client.get(f"/france-travail/files/{story.dossier_id}", headers=headers)
    return response.json() if response.status_code == 200 else None


def statuses(view) -> list[tuple[str, str]]:
    return [(f["operation"], f["status"]) for f in view["flows"]] if view else []


async def test_france_travail_flows_in_order_once_with_refusals_blocking_only_their_file(make_settings, ft_sandbox, bus_settings):
    settings = make_settings(france_travail_url=ft_sandbox.url, france_travail_degraded_after_failures=2)
    region = auth_header(settings, OrgKind.REGION, "region")
    paid = TraineeStory(france_travail_id=make_ft_id(11))
    refused = TraineeStory(france_travail_id=make_ft_id(12))
    unknown = TraineeStory(france_travail_id="9000001A")
    malformed = TraineeStory(france_travail_id="ABC")
    waiting = TraineeStory()
    delegated = TraineeStory(programme=programme("ACCES-EMPLOI-FT", delegated=True), france_travail_id=make_ft_id(14))
    await ft_sandbox.register(paid.france_travail_id, unemployment_benefit=True, daily_amount="31.20")
    await ft_sandbox.faults(down=True)
    async with running(create_app(settings)) as client:
        await publish(bus_settings, paid.full_journey() + [refused.enrolled(), refused.entered(), refused.exited()]
                      + [unknown.enrolled(), malformed.enrolled(), waiting.enrolled(), waiting.entered()]
                      + delegated.full_journey())

        async def unreachable():
            status = (await client.get("/health/status")).json()
            return [r for r in status["reasons"] if r.startswith("France Travail unreachable")] and status

        status = await eventually(unreachable, message="France Travail reported unreachable")
        assert status["status"] == "degraded" and not status["components"]["france_travail"]["reachable"]
        assert await ft_sandbox.certificates(paid.dossier_id) == []
        # back, with one answer lost on the way (the resend gets it again) and the refused file's AES refused,
        # its message echoing the person's identifier and NIR
        echoed = f"Horaires incohérents pour {refused.france_travail_id} (NIR {NIR})"
        await ft_sandbox.faults(duplicates_next=1, refusals=[{"kind": "aes", "france_travail_id": refused.france_travail_id,
                                                              "code": "E_AES_HOURS", "message": echoed}])

        async def paid_done():
            view = await ft_file(client, region, paid)
            return {s for _, s in statuses(view)} == {"acknowledged"} and len(view["flows"]) == 5 and view

        view = await eventually(paid_done, timeout=30, message="every certificate of the paid file acknowledged")
        assert [f["operation"] for f in view["flows"]] == JOURNEY
        assert view["identifier_masked"] == paid.france_travail_id[0] + "******" + paid.france_travail_id[-1]
        received = await ft_sandbox.certificates(paid.dossier_id)
        assert [c["kind"] for c in received] == JOURNEY, "each certificate delivered once, in order"
        assert (await ft_sandbox.client.get("/v1/faults")).json()["duplicates"] == 1

        # the refused AES blocks its file only, with France Travail's code and message
        async def refused_blocked():
            return statuses(await ft_file(client, region, refused)) == [("ais", "acknowledged"), ("aes", "rejected"), ("end", "pending")]

        await eventually(refused_blocked, message="refused AES blocks its file")
        rejected = (await ft_file(client, region, refused))["flows"][1]
        masked = refused.france_travail_id[0] + "******" + refused.france_travail_id[-1]
        assert (rejected["rejection_code"], rejected["rejection_message"]) == (
            "E_AES_HOURS", f"Horaires incohérents pour {masked} (NIR [NIR])"), "the echoed identifier and NIR masked"
        assert rejected["answer"] == {"status": "refused", "code": "E_AES_HOURS"}, "France Travail's text not passed through"
        acknowledged = (await ft_file(client, region, paid))["flows"][1]["answer"]
        assert set(acknowledged) == {"certificate_id", "kind", "status"} and acknowledged["kind"] == "aes"
        assert rejected["allowed_actions"] == ["retry"]
        assert [c["kind"] for c in await ft_sandbox.certificates(refused.dossier_id)] == ["ais"]

        # an unknown identifier: refused with the code; a malformed one: refused by the gateway itself
        async def refused_code(story):
            flows = (await ft_file(client, region, story) or {}).get("flows", [])
            return flows and flows[0]["status"] == "rejected" and flows[0]["rejection_code"]

        assert await eventually(lambda: refused_code(unknown)) == "unknown_job_seeker"
        assert await eventually(lambda: refused_code(malformed)) == "invalid_france_travail_id"

        # no identifier: listed as waiting, not sent, not dropped
        async def listed_waiting():
            listed = (await client.get("/france-travail/flows", params={"waiting_for_identifier": "true"}, headers=region)).json()
            return [(f["dossier_id"], f["operation"], f["waiting_reason"]) for f in listed["items"]]

        assert await eventually(listed_waiting) == [
            (str(waiting.dossier_id), "ais", "waiting_for_france_travail_id"),
            (str(waiting.dossier_id), "aes", "waiting_for_france_travail_id"),
        ]
        async def waiting_in_status():
            return (await client.get("/health/status")).json()["components"]["france_travail"]["files_waiting_for_identifier"] == 1

        await eventually(waiting_in_status, message="waiting file counted in /health/status")

        # the operator resends the refused AES (France Travail fixed on its side): the file goes on
        etag = (await client.get(f"/france-travail/flows/{rejected['flow_id']}", headers=region)).headers["ETag"]
        response = await client.post(f"/france-travail/flows/{rejected['flow_id']}/retry", headers={**region, "If-Match": etag})
        assert response.status_code == 200, response.text
        assert response.json()["revision"] == 2 and response.json()["transitions"][-1]["action"] == "retry"

        # the identifier comes: the waiting file's certificates go, in order
        await publish(bus_settings, [waiting.identity_updated(france_travail_id=make_ft_id(13))])

        async def all_sent():
            return (statuses(await ft_file(client, region, refused)) == [("ais", "acknowledged"), ("aes", "acknowledged"), ("end", "acknowledged")]
                    and statuses(await ft_file(client, region, waiting)) == [("ais", "acknowledged"), ("aes", "acknowledged")])

        await eventually(all_sent, timeout=20, message="resent AES and the waiting file acknowledged")
        assert [c["kind"] for c in await ft_sandbox.certificates(refused.dossier_id)] == ["ais", "aes", "end"]

        # delegated programme: AGORA's flows recorded as delegated, reconciled with France Travail's certificates
        async def reconciled():
            report = (await client.get("/france-travail/delegation-report", headers=region)).json()["items"]
            return report and report[0]["reconciled"] and report

        report = await eventually(reconciled, message="delegated file reconciled")
        assert [r["dossier_id"] for r in report] == [str(delegated.dossier_id)]
        assert [(line["operation"], line["carried_by"], line["france_travail_status"]) for line in report[0]["lines"]] == [
            ("create", "ais", "acknowledged"), ("enter", "aes", "acknowledged"), ("interrupt", "interruption", "acknowledged"),
            ("resume", "resumption", "acknowledged"), ("exit", "end", "acknowledged"), ("settle", None, "no_certificate"),
        ]
        assert all(line["due_on"] and (line["acknowledged_at"] or line["operation"] == "settle") for line in report[0]["lines"])

        # the AES answers on the bus, once per acknowledged AES, without any identifier
        topic = topic_name(bus_settings, Topics.FRANCE_TRAVAIL)
        envelopes = await read_topic(bus_settings, topic, expect=4)
        answers = {e.data.dossier_id: e.data for e in envelopes}
        assert len(envelopes) == 4
        assert set(answers) == {paid.dossier_id, refused.dossier_id, waiting.dossier_id, delegated.dossier_id}
        assert answers[paid.dossier_id].unemployment_benefit and answers[paid.dossier_id].daily_amount == Decimal("31.20")
        assert not answers[waiting.dossier_id].unemployment_benefit and answers[refused.dossier_id].revision == 2
        assert not any(paid.france_travail_id in e.body().decode() for e in envelopes)

        async def reachable_again():  # /health/status is cached a moment
            status = (await client.get("/health/status")).json()
            return status["components"]["france_travail"]["reachable"] and status

        status = await eventually(reachable_again, message="France Travail reachable again")
        assert not [r for r in status["reasons"] if "France Travail" in r]


@pytest.mark.parametrize("amount", ["NaN", "-Infinity", "-0.01", "abc"])
def test_a_benefit_amount_that_is_not_a_finite_amount_of_0_or_more_is_malformed(amount):
    with pytest.raises(MalformedAnswer):
        benefit_of({"certificate_id": "FT-1", "benefit": {"unemployment_benefit": True, "daily_amount": amount}})
    assert benefit_of({"benefit": {"unemployment_benefit": True, "daily_amount": "0"}}).daily_amount == Decimal("0")
    assert benefit_of({"certificate_id": "FT-1"}) is None


async def test_a_malformed_benefit_amount_refuses_only_its_file_until_an_operator_resends(make_settings, ft_sandbox, bus_settings):
    settings = make_settings(france_travail_url=ft_sandbox.url)
    region = auth_header(settings, OrgKind.REGION, "region")
    negative, sound = TraineeStory(france_travail_id=make_ft_id(21)), TraineeStory(france_travail_id=make_ft_id(22))
    await ft_sandbox.register(negative.france_travail_id, unemployment_benefit=True, daily_amount="-31.20")
    await ft_sandbox.register(sound.france_travail_id, unemployment_benefit=True, daily_amount="31.20")
    async with running(create_app(settings)) as client:
        await publish(bus_settings, [negative.enrolled(), negative.entered(), negative.exited(),
                                     sound.enrolled(), sound.entered()])

        async def settled():
            blocked = statuses(await ft_file(client, region, negative))
            done = statuses(await ft_file(client, region, sound))
            return (blocked == [("ais", "acknowledged"), ("aes", "rejected"), ("end", "pending")]
                    and done == [("ais", "acknowledged"), ("aes", "acknowledged")])

        await eventually(settled, timeout=20, message="the malformed answer blocks its file only")
        rejected = (await ft_file(client, region, negative))["flows"][1]
        assert rejected["rejection_code"] == "malformed_answer" and rejected["allowed_actions"] == ["retry"]

        # France Travail corrects the amount; the operator resends (a new revision, a new key)
        await ft_sandbox.register(negative.france_travail_id, unemployment_benefit=True, daily_amount="12.50")
        etag = (await client.get(f"/france-travail/flows/{rejected['flow_id']}", headers=region)).headers["ETag"]
        response = await client.post(f"/france-travail/flows/{rejected['flow_id']}/retry", headers={**region, "If-Match": etag})
        assert response.status_code == 200, response.text

        async def resent():
            return statuses(await ft_file(client, region, negative)) == [
                ("ais", "acknowledged"), ("aes", "acknowledged"), ("end", "acknowledged")]

        await eventually(resent, timeout=20, message="the resent AES acknowledged and the file goes on")
        envelopes = await read_topic(bus_settings, topic_name(bus_settings, Topics.FRANCE_TRAVAIL), expect=2)
        answers = {e.data.dossier_id: e.data for e in envelopes}
        assert answers[negative.dossier_id].daily_amount == Decimal("12.50") and answers[negative.dossier_id].revision == 2
        assert answers[sound.dossier_id].daily_amount == Decimal("31.20")


async def test_months_signed_on_the_sheets_go_to_france_travail_after_the_aes_each_version_once(make_settings, ft_sandbox, bus_settings):
    settings = make_settings(france_travail_url=ft_sandbox.url)
    region = auth_header(settings, OrgKind.REGION, "region")
    story = TraineeStory(france_travail_id=make_ft_id(31))
    async with running(create_app(settings)) as client:
        await publish(bus_settings, [story.enrolled()])
        await eventually(lambda: ft_file(client, region, story), message="the file followed")
        # heard before the entry (the topics are not ordered): retried, queued once the AES is
        await publish(bus_settings, [story.attendance("2026-01", attended=Decimal("140"))])
        await publish(bus_settings, [story.entered()])
        await publish(bus_settings, [story.attendance("2026-02", source="manual"),  # typed by hand: not signed, not sent
                                     story.attendance("2026-01", version=2, attended=Decimal("143.5"))])
        # the same version heard again (republished: another event id), then a late copy of version 1: neither is queued
        await publish(bus_settings, [story.attendance("2026-01", version=2, attended=Decimal("143.5")),
                                     story.attendance("2026-01", attended=Decimal("140"))])

        async def signed_months_acknowledged():
            flows = statuses(await ft_file(client, region, story))
            return flows == [("ais", "acknowledged"), ("aes", "acknowledged"), ("attendance", "acknowledged"),
                             ("attendance", "acknowledged")]

        await eventually(signed_months_acknowledged, timeout=20, message="both signed versions of January acknowledged")
        await publish(bus_settings, [story.exited(), story.attendance("2026-06", attended=Decimal("70"), planned=Decimal("70"))])

        async def all_acknowledged():
            flows = statuses(await ft_file(client, region, story))
            return len(flows) == 6 and {status for _, status in flows} == {"acknowledged"} and [op for op, _ in flows]

        operations = await eventually(all_acknowledged, timeout=20, message="the end and the last signed month acknowledged")
        assert sorted(operations[4:]) == ["attendance", "end"], "the last month, closed after the end, goes too"
        received = await ft_sandbox.certificates(story.dossier_id)
    signed = [c["data"] for c in received if c["kind"] == "attendance"]
    assert [(m["month"], m["version"], m["signed_hours"]) for m in signed[:2]] == [("2026-01", 1, "140"), ("2026-01", 2, "143.5")]
    assert signed[0] == {"month": "2026-01", "version": 1, "planned_hours": "147", "signed_hours": "140",
                         "justified_absence_hours": "7", "unjustified_absence_hours": "0", "in_company_hours": "0"}
    assert [c["kind"] for c in received][:2] == ["ais", "aes"] and len(received) == 6
    assert "2026-02" not in {m["month"] for m in signed}

