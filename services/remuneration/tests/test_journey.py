"""A file enters in sessions, its request is filed, three months of attendance arrive; the runs
are computed and validated, the batch downloaded; the figures match a case computed by hand."""

import csv
import io
from datetime import date
from decimal import Decimal as D

from pacte_common.bus import topic_name
from pacte_common.events import Topics
from pacte_testing import read_topic
from pacte_testing.remuneration import IBAN, NIR, FileSpec


def components(statement):
    return {c["code"]: D(c["amount"]) for c in statement["components"]}


async def test_three_months_from_entry_to_the_paying_agency_batch(remuneration):
    r = remuneration
    # Born 1998-06-10: 22 on the first day of May, June and July 2021 → 2021 scale band 18–25: 500 €.
    # First-time job seeker: +65 € (beats +15). Full monthly amount 565 €.
    dossier = await r.sessions.enrol(FileSpec(birth_date=date(1998, 6, 10), first_time_jobseeker=True))
    await r.sessions.enter(dossier, date(2021, 5, 10))
    await r.wait_file(dossier, lambda f: f["state"] == "awaiting_request")
    response = await r.request(dossier, first_time_jobseeker=True, advance_wanted=True)
    assert response.status_code == 201, response.text
    filed = response.json()
    assert filed["state"] == "open" and filed["regime"] == "region"
    assert "approved for remuneration" in filed["regime_reason"]
    assert filed["request"]["iban_masked"] == "FR76*******************0189"
    assert IBAN not in response.text

    await r.sessions.attendance(dossier, "2021-05", planned=110, unjustified=0)
    await r.sessions.attendance(dossier, "2021-06", planned=140, unjustified=7)
    await r.sessions.attendance(dossier, "2021-07", planned=147, unjustified=0)
    await r.wait_attendance(dossier, "2021-07")
    await r.wait_attendance(dossier, "2021-06")
    await r.wait_attendance(dossier, "2021-05")

    # May 2021: 10..31 May = 22 days of 31.
    #   scale 500 × 22/31 = 354.8387 → 354.84 ; top-up 65 × 22/31 = 46.129 → 46.13 ; earned 400.97
    #   advance 0.75 × 400.97 = 300.7275 → 300.73 ; paid 701.70
    may_run = await r.run("2021-05")
    assert may_run["state"] == "draft"
    may = await r.statement("2021-05", dossier)
    assert may["scale_version"] == "2021-05"
    assert components(may)["public_remuneration"] == D("354.84")
    assert components(may)["region_top_up"] == D("46.13")
    assert components(may)["advance"] == D("300.73")
    assert D(may["amount"]) == D("701.70")
    await r.validate("2021-05")

    # June: 30/30 days, 7 h unjustified of 140 → × 0.95: 475.00 + 61.75 = 536.75 ; advance recovered −300.73
    await r.run("2021-06")
    june = await r.statement("2021-06", dossier)
    assert components(june)["public_remuneration"] == D("475.00")
    assert components(june)["region_top_up"] == D("61.75")
    assert components(june)["advance_recovery"] == D("-300.73")
    assert D(june["amount"]) == D("236.02")
    await r.validate("2021-06")

    # July: full month, no absence: 500 + 65 = 565.00
    await r.run("2021-07")
    july = await r.statement("2021-07", dossier)
    assert D(july["amount"]) == D("565.00")
    assert july["advance_outstanding_after"] == "0.00"
    validated = await r.validate("2021-07")
    assert validated["state"] == "validated" and validated["batch_url"] == "/batches/2021-07"

    # Each statement explains its amount in words, with its figures.
    detail = (await r.client.get(f"/statements/{june['id']}", headers=r.region)).json()
    line = next(c for c in detail["components"] if c["code"] == "public_remuneration")
    for figure in ("2021-05", "age 22", "500.00", "30 days in training out of 30", "7 h unjustified", "140 h planned", "475.00"):
        assert figure in line["explanation"], (figure, line["explanation"])
    assert detail["inputs"]["attendance_version"] == "1"
    assert detail["regime_label"]

    # The paying agency's batch for May: the NIR and IBAN in clear for it only, totals reconcile.
    batch = await r.client.get("/batches/2021-05", headers=r.agency)
    assert batch.status_code == 200 and batch.headers["content-type"].startswith("text/csv")
    assert batch.headers["cache-control"] == "no-store", "NIR and IBAN in clear: never kept by a cache"
    assert batch.headers["x-content-type-options"] == "nosniff" and batch.headers["x-frame-options"] == "DENY"
    rows = list(csv.DictReader(io.StringIO(batch.text), delimiter=";"))
    line, total = rows[0], rows[-1]
    assert (line["dossier_id"], line["nir"], line["iban"], line["amount"]) == (str(dossier), NIR, IBAN, "701.70")
    assert (line["public_remuneration"], line["region_top_up"], line["advance"]) == ("354.84", "46.13", "300.73")
    assert total["statement_id"] == "TOTAL" and total["amount"] == "701.70"
    assert batch.headers["X-Batch-Total"] == "701.70"

    # Payments issued on the bus, without personal data.
    events = await read_topic(r.settings.bus, topic_name(r.settings.bus, Topics.PAYMENTS), expect=8)
    issued = [e for e in events if e.type.endswith("payment-issued.v1")]
    assert sorted(e.data.amount for e in issued) == [D("236.02"), D("565.00"), D("701.70")]
    assert any(e.type.endswith("entitlement-opened.v1") for e in events)
    for envelope in events:
        body = envelope.body().decode()
        assert NIR not in body and IBAN not in body and "MARTIN" not in body
