"""Money owed back over HTTP and the real broker: a cancelled or late-exited file's overpayment
becomes a debt, demanded and repaid through the paying agency or written off by the Region;
nothing is paid after the training; explanations say what changed."""

import csv
import io
import re
from datetime import date
from decimal import Decimal as D

from pacte_common.bus import topic_name
from pacte_common.clock import business_today
from pacte_common.events import Topics
from pacte_testing import eventually, read_topic
from pacte_testing.remuneration import IBAN, NIR, FileSpec

AMOUNT = re.compile(r"^-?\d+\.\d{2}$")


async def paid_file(r, entry: date, months: list[str], spec: FileSpec | None = None):
    """A file entered, its request filed and each month's attendance received (full attendance)."""
    dossier = await r.sessions.enrol(spec)
    await r.sessions.enter(dossier, entry)
    await r.wait_file(dossier, lambda f: f["state"] == "awaiting_request")
    assert (await r.request(dossier)).status_code == 201
    for month in months:
        await r.sessions.attendance(dossier, month, planned=140, unjustified=0)
        await r.wait_attendance(dossier, month)
    return dossier


async def test_a_cancelled_files_pay_becomes_a_debt_demanded_repaid_and_written_off(remuneration):
    r = remuneration
    dossier = await paid_file(r, date(2021, 6, 1), ["2021-06"])
    await r.run("2021-06")
    await r.validate("2021-06")
    june = await r.statement("2021-06", dossier)
    paid = D(june["amount"])
    assert paid > 0

    await r.sessions.cancel(dossier)
    await r.wait_file(dossier, lambda f: f["state"] == "cancelled")
    await r.run("2021-07")
    await r.validate("2021-07")
    july = await r.statement("2021-07", dossier)
    assert D(july["amount"]) == 0 and D(july["overpayment_outstanding_after"]) == 0
    assert all(AMOUNT.match(c["amount"]) for c in july["components"])  # "0.00", never "0"
    recovery = next(c for c in july["components"] if c["code"] == "overpayment_recovery")
    assert "owed back as a debt" in recovery["explanation"]

    file = await r.file(dossier)
    assert D(file["debt_balance"]) == paid and len(file["debts"]) == 1
    debt_id = file["debts"][0]["id"]
    org_view = (await r.client.get(f"/files/{dossier}", headers=r.org)).json()
    assert org_view["debt_balance"] is None and org_view["debts"] == []  # the trainee's money, not the organisation's

    debt = (await r.client.get(f"/debts/{debt_id}", headers=r.agency)).json()
    assert debt["state"] == "open" and D(debt["amount"]) == paid == D(debt["balance"])
    assert debt["origin_months"] == ["2021-06"] and "the entry was cancelled" in debt["explanation"]
    assert debt["history"][0]["action"] == "open" and debt["allowed_actions"] == ["demand", "repay", "write_off"]
    listed = (await r.client.get("/debts", params={"state": "open"}, headers=r.region)).json()
    assert [d["id"] for d in listed["items"]] == [debt_id]
    assert (await r.client.get("/debts", headers=r.org)).status_code == 403

    # The demand file: NIR and IBAN in clear for the paying agency only.
    demands = await r.client.get("/demands/2021-07", headers=r.agency)
    assert demands.status_code == 200 and demands.headers["cache-control"] == "no-store"
    rows = list(csv.DictReader(io.StringIO(demands.text), delimiter=";"))
    assert rows[0]["debt_id"] == debt_id and rows[0]["nir"] == NIR and rows[0]["iban"] == IBAN
    assert D(rows[0]["amount"]) == paid and rows[-1]["debt_id"] == "TOTAL" and D(rows[-1]["amount"]) == paid
    masked = list(csv.DictReader(io.StringIO((await r.client.get("/demands/2021-07", headers=r.region)).text),
                                 delimiter=";"))
    assert masked[0]["nir"] != NIR and masked[0]["iban"] != IBAN and NIR not in str(masked)
    assert (await r.client.get("/demands/2021-08", headers=r.agency)).status_code == 404  # no validated run

    demand = {"reference": "OR-2021-0042", "demanded_on": "2021-08-02"}
    assert (await r.client.post(f"/debts/{debt_id}/demand", json=demand, headers=r.region)).status_code == 403
    demanded = await r.client.post(f"/debts/{debt_id}/demand", json=demand, headers=r.agency)
    assert demanded.status_code == 200 and demanded.json()["state"] == "demanded"
    again = await r.client.post(f"/debts/{debt_id}/demand", json=demand, headers=r.agency)
    assert again.status_code == 200 and again.json()["version"] == demanded.json()["version"]

    too_much = await r.client.post(f"/debts/{debt_id}/repayments", headers=r.agency,
                                   json={"amount": str(paid + D("0.01")), "received_on": "2021-09-01", "reference": "V1"})
    assert too_much.status_code == 422 and [e["field"] for e in too_much.json()["errors"]] == ["body.amount"]
    bad = await r.client.post(f"/debts/{debt_id}/repayments", headers=r.agency,
                              json={"amount": "-5", "received_on": "2021-09-01", "reference": "V\n1"})
    assert bad.status_code == 422
    assert {"body.amount", "body.reference"} <= {e["field"] for e in bad.json()["errors"]}
    part = {"amount": "100.00", "received_on": "2021-09-01", "reference": "V1"}
    first = await r.client.post(f"/debts/{debt_id}/repayments", json=part, headers=r.agency)
    assert first.status_code == 201 and first.json()["state"] == "partly_repaid"
    assert D(first.json()["balance"]) == paid - D("100.00")
    replayed = await r.client.post(f"/debts/{debt_id}/repayments", json=part, headers=r.agency)
    assert replayed.status_code == 200 and replayed.json()["balance"] == first.json()["balance"]
    reused = await r.client.post(f"/debts/{debt_id}/repayments", json={**part, "amount": "50.00"}, headers=r.agency)
    assert reused.status_code == 409 and reused.json()["field"] == "body.reference"

    short = await r.client.post(f"/debts/{debt_id}/write-off", json={"reason": "x"}, headers=r.region)
    assert short.status_code == 422 and [e["field"] for e in short.json()["errors"]] == ["body.reason"]
    assert (await r.client.post(f"/debts/{debt_id}/write-off", json={"reason": "insolvency"},
                                headers=r.agency)).status_code == 403
    written = await r.client.post(f"/debts/{debt_id}/write-off", json={"reason": "over-indebtedness (Banque de France)"},
                                  headers=r.region)
    body = written.json()
    assert written.status_code == 200 and body["state"] == "written_off" and D(body["balance"]) == 0
    assert D(body["written_off_amount"]) == paid - D("100.00") and body["write_off_reason"].startswith("over-indebted")
    assert [t["action"] for t in body["history"]] == ["open", "demand", "repay", "write_off"]
    assert D((await r.file(dossier))["debt_balance"]) == 0
    totals = (await r.client.get("/debts/totals", headers=r.region)).json()
    assert totals == {"owed_debts": 0, "owed_balance": "0.00"}

    debt_events = []

    async def every_debt_event_published() -> bool:  # the last one may still be in the relay
        nonlocal debt_events
        events = await read_topic(r.settings.bus, topic_name(r.settings.bus, Topics.PAYMENTS), expect=8)
        debt_events = [e for e in events if "debt-" in e.type]
        return len(debt_events) >= 4

    await eventually(every_debt_event_published, message="the four debt events")
    assert [e.type.split(".")[-2] for e in debt_events] == [
        "debt-opened", "debt-demanded", "debt-repayment-recorded", "debt-written-off"]
    assert NIR not in str([e.data for e in debt_events]) and IBAN not in str([e.data for e in debt_events])


async def test_a_late_exit_recovers_the_months_after_it_and_what_cannot_be_offset_is_owed_back(remuneration):
    r = remuneration
    dossier = await paid_file(r, date(2021, 3, 1), ["2021-03", "2021-04"])
    for month in ("2021-03", "2021-04"):
        await r.run(month)
        await r.validate(month)
    # The attendance of March is corrected (20 h of unjustified absence), then an exit on 2021-03-20 is declared late.
    await r.sessions.attendance(dossier, "2021-03", planned=140, unjustified=20, version=2)
    await r.wait_attendance(dossier, "2021-03", version=2)
    await r.sessions.exit(dossier, date(2021, 3, 20))
    await r.wait_file(dossier, lambda f: f["state"] == "closed")
    await r.run("2021-05")
    await r.validate("2021-05")
    may = await r.statement("2021-05", dossier)
    explained = {a["concerned_month"]: a["explanation"] for a in may["adjustments"]}
    today = business_today(r.settings.business_timezone).isoformat()
    assert f"exit on 2021-03-20 declared on {today}" in explained["2021-03"]
    assert "unjustified absence 0 → 20 h" in explained["2021-03"]
    assert "2021-04 recomputed" in explained["2021-04"] and D(may["amount"]) == 0
    owed = -sum(D(a["delta"]) for a in may["adjustments"])
    file = await r.file(dossier)
    assert D(file["debt_balance"]) == owed > 0
    debt = (await r.client.get(file["debts"][0]["url"], headers=r.region)).json()
    assert debt["origin_months"] == ["2021-03", "2021-04"] and "exit on 2021-03-20" in debt["explanation"]
    # Sessions voided April's statement (outside the training now): remuneration keeps it, marked.
    await r.sessions.void_attendance(dossier, "2021-04", "exit on 2021-03-20 declared late")
    voided = await r.wait_file(dossier, lambda f: "2021-04" in f["voided_attendance"], "voided attendance")
    assert voided["voided_attendance"] == {"2021-04": "exit on 2021-03-20 declared late"}
    # The Region validates totals on masked values; the paying agency gets them in clear.
    region_batch = (await r.client.get("/batches/2021-04", headers=r.region)).text
    agency_batch = (await r.client.get("/batches/2021-04", headers=r.agency)).text
    assert NIR in agency_batch and IBAN in agency_batch and NIR not in region_batch and IBAN not in region_batch


async def test_no_day_after_the_sessions_end_is_paid(remuneration):
    r = remuneration
    dossier = await paid_file(r, date(2021, 9, 1), ["2021-09", "2021-10"], FileSpec(session_end=date(2021, 9, 15)))
    await r.run("2021-09")
    await r.validate("2021-09")
    september = await r.statement("2021-09", dossier)
    assert september["inputs"]["days_in_training"] == "15" and september["inputs"]["session_end_date"] == "2021-09-15"
    run = await r.run("2021-10")
    assert run["statements_computed"] + run["statements_waiting"] == 0  # nothing to pay, recover or wait for
