"""Monthly runs over the real broker and database: reconciliation, validation, corrections."""

import csv
import io
from datetime import date
from decimal import Decimal as D

import pytest
from pacte_common.bus import topic_name
from pacte_common.events import Topics
from pacte_testing import eventually, read_topic, running
from pacte_testing.remuneration import OTHER_SIRET, FileSpec, nir_of
from remuneration.db.models import InterruptionRow
from remuneration.domain.rates import DEFAULT_MINIMUM_WAGES
from remuneration.main import create_app
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import create_async_engine


def parse_batch(text):
    rows = list(csv.DictReader(io.StringIO(text), delimiter=";"))
    return rows[:-1], rows[-1]


async def test_a_run_over_many_files_reconciles_with_its_batch_and_validating_twice_changes_nothing(remuneration):
    r = remuneration
    specs = []
    for i in range(24):
        specs.append(FileSpec(
            birth_date=date(1960 + i, 1 + i % 12, 1 + i % 27), single_parent=i % 5 == 0,
            first_time_jobseeker=i % 3 == 0, unemployment_benefit=i % 4 == 1,
            unemployment_daily_amount=D("20.81") if i % 4 == 1 else None, tension_sector=i % 6 == 2,
            weekly_hours=D("35") if i % 2 else D("24.5"), nir=nir_of(i),
            siret=OTHER_SIRET if i % 7 == 3 else "73282932000074",
        ))
    dossiers = []
    for i, spec in enumerate(specs):
        dossier = await r.sessions.enrol(spec)
        await r.sessions.enter(dossier, date(2021, 5, 1 + i))
        if i != 5:  # one file without its statement: it waits
            await r.sessions.attendance(dossier, "2021-05", planned=120, unjustified=i % 4 * 3)
        dossiers.append(dossier)
    for i, (dossier, spec) in enumerate(zip(dossiers, specs, strict=True)):
        await r.wait_file(dossier, lambda f: f["state"] == "awaiting_request")
        headers = r.org if spec.siret != OTHER_SIRET else r.other_org
        response = await r.client.post("/requests", headers=headers, json={
            "dossier_id": str(dossier), "iban": "FR7630006000011234567890189",
            "unemployment_benefit": spec.unemployment_benefit,
            "unemployment_daily_amount": str(spec.unemployment_daily_amount) if spec.unemployment_daily_amount else None,
            "transport_allowance": i % 2 == 0, "advance_wanted": i % 8 == 0,
        })
        assert response.status_code == 201, response.text
    for i, dossier in enumerate(dossiers):
        if i != 5:
            await r.wait_attendance(dossier, "2021-05")

    run = await r.run("2021-05")
    assert run["statements_computed"] == 23 and run["statements_waiting"] == 1
    statements, cursor = [], None
    while True:  # cursor pagination
        page = (await r.client.get("/statements", params={"month": "2021-05", "limit": 10, **({"cursor": cursor} if cursor else {})},
                                   headers=r.region)).json()
        statements += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(statements) == 24 and len({s["id"] for s in statements}) == 24
    for statement in statements:
        assert D(statement["amount"]) == sum(D(c["amount"]) for c in statement["components"])
    assert sum(D(s["amount"]) for s in statements) == D(run["total_amount"])
    waiting = [s for s in statements if s["status"] == "waiting"]
    assert [s["dossier_id"] for s in waiting] == [str(dossiers[5])]

    validated = await r.validate("2021-05")
    batch = await r.client.get("/batches/2021-05", headers=r.agency)
    lines, total = parse_batch(batch.text)
    paid = [s for s in statements if D(s["amount"]) > 0]
    assert len(lines) == len(paid) == validated["payment_lines"] == int(total["dossier_id"])
    assert sum(D(line["amount"]) for line in lines) == D(total["amount"]) == D(validated["total_amount"])
    for line in lines:
        statement = next(s for s in paid if s["id"] == line["statement_id"])
        assert D(line["amount"]) == D(statement["amount"])
        assert sum(D(line[c["code"]]) for c in statement["components"]) == D(line["amount"])
        assert len(line["nir"]) == 15 and line["iban"].startswith("FR76")
    for code in validated["component_totals"]:
        assert D(total[code]) == D(validated["component_totals"][code])

    payments = topic_name(r.settings.bus, Topics.PAYMENTS)
    events = await read_topic(r.settings.bus, payments, expect=24 + 24 + len(paid))
    issued = [e for e in events if e.type.endswith("payment-issued.v1")]
    assert len(issued) == len(paid)

    # A client that only retried its validation gets the same answer, and nothing is issued twice.
    again = await r.client.post("/runs/2021-05/validate", headers=r.region)
    assert again.status_code == 200 and again.json() == validated
    retried = await r.client.post("/runs/2021-05/validate", headers={**r.region, "If-Match": f'"{run["version"]}"'})
    assert retried.status_code == 200 and retried.json() == validated
    stale = await r.client.post("/runs/2021-05/validate", headers={**r.region, "If-Match": '"99"'})
    assert stale.status_code == 412
    recompute = await r.client.post("/runs", json={"month": "2021-05"}, headers=r.region)
    assert recompute.status_code == 409
    assert recompute.headers["content-type"] == "application/problem+json"
    assert recompute.json()["current_state"] == "validated" and recompute.json()["allowed_actions"] == []
    assert (await r.client.get("/batches/2021-05", headers=r.agency)).text == batch.text
    assert (await r.client.get("/runs/2021-05", headers=r.region)).json() == validated
    events_after = await read_topic(r.settings.bus, payments, expect=len(events) + 1, timeout=1)
    assert len([e for e in events_after if e.type.endswith("payment-issued.v1")]) == len(paid)


async def test_batch_is_for_the_paying_agency_and_the_region_only(remuneration):
    r = remuneration
    dossier = await r.sessions.enrol()
    await r.sessions.enter(dossier, date(2021, 6, 1))
    await r.wait_file(dossier, lambda f: f["state"] == "awaiting_request")
    assert (await r.request(dossier)).status_code == 201
    await r.sessions.attendance(dossier, "2021-06", planned=140, unjustified=0)
    await r.wait_attendance(dossier, "2021-06")
    await r.run("2021-06")
    assert (await r.client.get("/batches/2021-06", headers=r.agency)).status_code == 404  # not validated yet
    await r.validate("2021-06")

    refused = await r.client.get("/batches/2021-06", headers=r.org)
    assert refused.status_code == 403 and refused.headers["content-type"] == "application/problem+json"
    assert (await r.client.get("/batches/2021-06")).status_code == 401
    assert (await r.client.get("/batches/2021-06", headers=r.region)).status_code == 200
    assert (await r.client.get("/batches/2021-06", headers=r.agency)).status_code == 200
    # Runs are the Region's to compute and validate.
    assert (await r.client.post("/runs", json={"month": "2021-07"}, headers=r.agency)).status_code == 403
    assert (await r.client.post("/runs", json={"month": "2021-13"}, headers=r.region)).status_code == 422
    # A training organisation sees only its own files' statements.
    own = (await r.client.get("/statements", params={"month": "2021-06"}, headers=r.org)).json()["items"]
    other = (await r.client.get("/statements", params={"month": "2021-06"}, headers=r.other_org)).json()["items"]
    assert len(own) == 1 and other == []
    assert (await r.client.get(f"/statements/{own[0]['id']}", headers=r.other_org)).status_code == 404


async def test_a_draft_rerun_replaces_it_and_a_correction_after_validation_adjusts_the_next_run(remuneration):
    r = remuneration
    # Born 1991-02-02: 30 in 2021, scale 685 + job seeker top-up 15 = 700 € a full month.
    dossier = await r.sessions.enrol(FileSpec(birth_date=date(1991, 2, 2)))
    await r.sessions.enter(dossier, date(2021, 6, 1))
    await r.wait_file(dossier, lambda f: f["state"] == "awaiting_request")
    assert (await r.request(dossier)).status_code == 201

    run = await r.run("2021-06")  # no statement yet: waiting
    assert run["statements_waiting"] == 1
    await r.sessions.attendance(dossier, "2021-06", planned=140, unjustified=0)
    await r.wait_attendance(dossier, "2021-06")
    rerun = await r.run("2021-06")
    assert rerun["version"] == run["version"] + 1
    assert rerun["statements_computed"] == 1 and rerun["statements_waiting"] == 0
    june = await r.statement("2021-06", dossier)
    assert D(june["amount"]) == D("700.00")
    stale = await r.client.post("/runs/2021-06/validate", headers={**r.region, "If-Match": f'"{run["version"]}"'})
    assert stale.status_code == 412
    await r.validate("2021-06")

    # The organisation corrects June after it was paid: 14 h unjustified of 140 → June is worth 630.
    await r.sessions.attendance(dossier, "2021-06", planned=140, unjustified=14, version=2)
    await r.sessions.attendance(dossier, "2021-07", planned=147, unjustified=0)
    await r.wait_attendance(dossier, "2021-06", version=2)
    await r.wait_attendance(dossier, "2021-07")
    await r.run("2021-07")
    july = await r.statement("2021-07", dossier)
    amounts = {c["code"]: D(c["amount"]) for c in july["components"]}
    assert amounts["public_remuneration"] + amounts["region_top_up"] == D("700.00")
    assert amounts["overpayment_recovery"] == D("-70.00")
    assert D(july["amount"]) == D("630.00")
    assert july["adjustments"][0]["concerned_month"] == "2021-06"
    assert D(july["adjustments"][0]["delta"]) == D("-70.00")
    assert "version 2" in july["adjustments"][0]["explanation"]
    # Paid history is never rewritten.
    assert (await r.client.get(f"/statements/{june['id']}", headers=r.region)).json()["amount"] == "700.00"


async def _open_file(r, entry: date, spec=None, **facts):
    dossier = await r.sessions.enrol(spec or FileSpec(birth_date=date(1991, 2, 2)))
    await r.sessions.enter(dossier, entry)
    await r.wait_file(dossier, lambda f: f["state"] == "awaiting_request")
    response = await r.request(dossier, **facts)
    assert response.status_code == 201, response.text
    return dossier


async def test_a_late_interruption_of_a_paid_month_is_recovered_next_month_and_explained(remuneration):
    r = remuneration
    # Born 1991-02-02: 685 + 15 = 700 € a full month (2021-05 scale).
    dossier = await _open_file(r, date(2021, 6, 1))
    await r.sessions.attendance(dossier, "2021-06", planned=140, unjustified=0)
    await r.wait_attendance(dossier, "2021-06")
    await r.run("2021-06")
    await r.validate("2021-06")
    assert D((await r.statement("2021-06", dossier))["amount"]) == D("700.00")

    # Declared in July: the trainee was interrupted from 21 June to 30 June (resumed on 1 July).
    interruption = await r.sessions.interrupt(dossier, date(2021, 6, 21))
    await r.sessions.resume(dossier, interruption, date(2021, 7, 1))
    await r.sessions.attendance(dossier, "2021-07", planned=147, unjustified=0)
    await r.wait_attendance(dossier, "2021-07")
    async def resumed():
        run = await r.client.post("/runs", json={"month": "2021-07"}, headers=r.region)
        assert run.status_code == 201, run.text
        july = await r.statement("2021-07", dossier)
        return july if july["adjustments"] and "→2021-07-01" in july["adjustments"][0]["explanation"] else None
    july = await eventually(resumed, message="July reviewed with the interruption and its resumption")
    # June is worth 20 days of 30 now: 685 × 20/30 = 456.67 + 15 × 20/30 = 10.00 → 466.67; paid 700.00.
    adjustment = july["adjustments"][0]
    assert adjustment["concerned_month"] == "2021-06" and D(adjustment["delta"]) == D("-233.33")
    assert adjustment["explanation"].startswith("2021-06 recomputed: interruption 2021-06-21→2021-07-01 (declared on ")
    assert "466.67 € against 700.00 € already paid" in adjustment["explanation"]
    amounts = {c["code"]: D(c["amount"]) for c in july["components"]}
    assert amounts["overpayment_recovery"] == D("-233.33") and D(july["amount"]) == D("700.00") - D("233.33")
    recovery = next(c for c in july["components"] if c["code"] == "overpayment_recovery")
    assert "2021-06 recomputed: interruption" in recovery["explanation"]

    # The interruption deleted from the database (declared by mistake, removed by an operator's SQL):
    # no use case saw it, yet August reviews June again and pays it back in full.
    await r.validate("2021-07")
    engine = create_async_engine(r.settings.database_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(delete(InterruptionRow).where(InterruptionRow.interruption_id == interruption))
    finally:
        await engine.dispose()
    await r.sessions.attendance(dossier, "2021-08", planned=154, unjustified=0)
    await r.wait_attendance(dossier, "2021-08")
    await r.run("2021-08")
    august = await r.statement("2021-08", dossier)
    assert august["reviewed_months"] == ["2021-06", "2021-07"]
    assert [(a["concerned_month"], D(a["delta"])) for a in august["adjustments"]] == [("2021-06", D("233.33"))]


async def test_months_are_validated_in_order_and_the_advance_is_paid_once(remuneration):
    r = remuneration
    dossier = await _open_file(r, date(2021, 6, 14), advance_wanted=True)
    for month in ("2021-06", "2021-07"):
        await r.sessions.attendance(dossier, month, planned=140, unjustified=0)
        await r.wait_attendance(dossier, month)
    june = await r.run("2021-06")
    # April's trap from the issue: July cannot be computed nor validated before June is validated.
    refused = await r.client.post("/runs", json={"month": "2021-07"}, headers=r.region)
    assert refused.status_code == 409 and refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"].endswith("/months-out-of-order") and refused.json()["month_to_do_first"] == "2021-06"
    assert "2021-06" in refused.json()["detail"]
    await r.validate("2021-06")
    await r.run("2021-07")
    # June cannot be recomputed once July is computed and June validated; July validates once June is.
    assert (await r.client.post("/runs", json={"month": "2021-06"}, headers=r.region)).status_code == 409
    await r.validate("2021-07")
    statements = [await r.statement(m, dossier) for m in ("2021-06", "2021-07")]
    advances = [D(c["amount"]) for s in statements for c in s["components"] if c["code"] == "advance"]
    assert advances == [D("297.50"), D("0")]  # 0.75 × (388.17 + 8.50) presumed for June, paid once
    recovered = [D(c["amount"]) for s in statements for c in s["components"] if c["code"] == "advance_recovery"]
    assert recovered == [D("0"), D("-297.50")]
    # A retry of June's validation answers the same, and nothing is paid twice.
    retried = await r.client.post("/runs/2021-06/validate", headers={**r.region, "If-Match": f'"{june["version"]}"'})
    assert retried.status_code == 200 and retried.json()["total_amount"] == (await r.client.get(
        "/runs/2021-06", headers=r.region)).json()["total_amount"]


# The net minimum wage table as it stood before its 2026 version was published.
WAGES_TO_2025 = tuple(version for version in DEFAULT_MINIMUM_WAGES if version.effective_from.year < 2026)


@pytest.mark.parametrize("remuneration", [{"minimum_wages": WAGES_TO_2025}], indirect=True)
async def test_a_month_without_its_rate_is_refused_by_name(remuneration):
    r = remuneration
    # Unemployment benefit in 2026 while no net minimum wage of 2026 is configured.
    spec = FileSpec(birth_date=date(1985, 1, 1), unemployment_benefit=True, unemployment_daily_amount=D("20.81"))
    dossier = await _open_file(r, date(2026, 1, 5), spec, unemployment_benefit=True,
                               unemployment_daily_amount="20.81")
    await r.sessions.attendance(dossier, "2026-01", planned=140, unjustified=0)
    await r.wait_attendance(dossier, "2026-01")
    refused = await r.client.post("/runs", json={"month": "2026-01"}, headers=r.region)
    assert refused.status_code == 409 and refused.json()["type"].endswith("/missing-rate")
    assert refused.json()["missing_rate"] == "minimum_wage" and refused.json()["missing_on"] == "2026-01-01"
    assert "net minimum wage" in refused.json()["detail"]
    assert (await r.client.get("/runs/2026-01", headers=r.region)).status_code == 404  # nothing half-computed


async def test_a_run_recomputes_only_the_months_whose_facts_changed(remuneration):
    r = remuneration
    # Born 1991-02-02: 685 + 15 = 700 € a full month (2021-05 scale). Entered in May, which no run paid:
    # June's run reviews it (never settled) and pays it as an adjustment.
    files = [await _open_file(r, date(2021, 5, 1)) for _ in range(4)]
    same, corrected, amended, renamed = files
    for dossier in files:
        for month in ("2021-05", "2021-06"):
            await r.sessions.attendance(dossier, month, planned=140, unjustified=0)
            await r.wait_attendance(dossier, month)
    june = await r.run("2021-06")
    assert june["months_reviewed"] == 4
    first = await r.statement("2021-06", same)
    assert first["reviewed_months"] == ["2021-05"] and D(first["amount"]) == D("1400.00")
    await r.validate("2021-06")

    # After June was paid: one file's June attendance is corrected (14 h unjustified: 630 €), another's
    # request gains the transport allowance (a fact of the whole file), a third's identity is corrected
    # in sessions (a new dossier version: not a fact of pay); the fourth changes nothing.
    await r.sessions.attendance(corrected, "2021-06", planned=140, unjustified=14, version=2)
    renamed_version = (await r.file(renamed))["version"]
    await r.sessions.rename(renamed, "DUPONT")
    for dossier in files:
        await r.sessions.attendance(dossier, "2021-07", planned=147, unjustified=0)
        await r.wait_attendance(dossier, "2021-07")
    await r.wait_attendance(corrected, "2021-06", version=2)
    patched = await r.client.patch(f"/requests/{amended}", json={"transport_allowance": True}, headers=r.org)
    assert patched.status_code == 200, patched.text
    await r.wait_file(renamed, lambda f: f["version"] > renamed_version, "the identity update heard")

    july = await r.run("2021-07")
    assert july["months_reviewed"] == 3
    for dossier in (same, renamed):
        unchanged = await r.statement("2021-07", dossier)
        assert unchanged["reviewed_months"] == [] and unchanged["adjustments"] == []
        assert D(unchanged["amount"]) == D("700.00")
    by_attendance = await r.statement("2021-07", corrected)
    assert by_attendance["reviewed_months"] == ["2021-06"]
    assert [(a["concerned_month"], D(a["delta"])) for a in by_attendance["adjustments"]] == [("2021-06", D("-70.00"))]
    by_request = await r.statement("2021-07", amended)
    assert by_request["reviewed_months"] == ["2021-05", "2021-06"]
    assert [a["concerned_month"] for a in by_request["adjustments"]] == ["2021-05", "2021-06"]
    assert all(D(a["delta"]) > 0 and "transport" in a["explanation"] for a in by_request["adjustments"])

    # Validated, then nothing changes: August reviews no earlier month of any file.
    await r.validate("2021-07")
    for dossier in files:
        await r.sessions.attendance(dossier, "2021-08", planned=154, unjustified=0)
        await r.wait_attendance(dossier, "2021-08")
    august = await r.run("2021-08")
    assert august["months_reviewed"] == 0 and august["statements_computed"] == 4


async def test_a_change_of_the_business_timezone_reviews_every_month(remuneration):
    """The timezone decides the day (hence the month) a declaration falls on: months settled under
    another one are reviewed again, as after a rate change."""
    r = remuneration
    dossier = await _open_file(r, date(2021, 6, 1))
    for month in ("2021-06", "2021-07"):
        await r.sessions.attendance(dossier, month, planned=140, unjustified=0)
        await r.wait_attendance(dossier, month)
    await r.run("2021-06")
    await r.validate("2021-06")
    moved = r.settings.model_copy(update={"business_timezone": "America/Cayenne"})
    async with running(create_app(moved)) as client:
        july = await client.post("/runs", json={"month": "2021-07"}, headers=r.region)
    assert july.status_code == 201, july.text
    assert july.json()["months_reviewed"] == 1
    assert (await r.statement("2021-07", dossier))["reviewed_months"] == ["2021-06"]
