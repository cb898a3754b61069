"""The regime decided from France Travail's answer to the entry certificate (docs/france-travail.md):
over the real broker, the answer overrides the request's declaration, a later answer decides
again, a duplicate or an older answer changes nothing."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from uuid import uuid4

from pacte_common.contracts.france_travail import FranceTravailBenefitAnswered
from pacte_testing import eventually
from pacte_testing.remuneration import FileSpec
from remuneration.db.models import EarlyFranceTravailAnswer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine


def answer(dossier, benefit: bool, at: datetime, amount: str | None = None) -> FranceTravailBenefitAnswered:
    return FranceTravailBenefitAnswered(
        flow_id=uuid4(), dossier_id=dossier, occurred_at=at, certificate_id="FT-TEST", unemployment_benefit=benefit,
        daily_amount=Decimal(amount) if amount else None, answered_at=at,
    )


async def test_france_travail_answer_decides_the_regime_and_a_duplicate_changes_nothing(remuneration):
    r = remuneration
    dossier = await r.sessions.enrol(FileSpec(unemployment_benefit=False))
    await r.wait_file(dossier, lambda f: f["state"] == "awaiting_entry")
    assert (await r.request(dossier)).status_code == 201  # declares no benefit
    await r.sessions.enter(dossier, date(2021, 6, 1))
    file = await r.wait_file(dossier, lambda f: f["state"] == "open")
    assert file["regime"] == "region" and file["france_travail_benefit"] is None

    # France Travail answers the AES: benefit paid → France Travail pays, the Region tops up
    first = datetime(2021, 6, 2, 9, tzinfo=UTC)
    await r.sessions.publish(answer(dossier, True, first, "20.81"), dossier)
    file = await r.wait_file(dossier, lambda f: f["regime"] == "unemployment_insurance", "regime from France Travail")
    assert file["france_travail_benefit"] is True and file["differential_eligible"] is True
    assert "AREF paid by France Travail" in file["regime_reason"]
    version = file["version"]

    # the same answer again, then an older contrary one: nothing changes
    await r.sessions.publish(answer(dossier, True, first, "20.81"), dossier)
    await r.sessions.publish(answer(dossier, False, first - timedelta(days=1)), dossier)
    # a later, changed answer (after an operator's resend): decided again, through the same redecision
    await r.sessions.publish(answer(dossier, False, first + timedelta(days=3)), dossier)
    file = await r.wait_file(dossier, lambda f: f["regime"] == "region", "regime decided again")
    assert file["france_travail_benefit"] is False
    assert file["version"] == version + 1, "the duplicate and the older answer changed nothing"


async def test_an_answer_before_its_file_waits_for_it_and_decides_the_regime(remuneration):
    """France Travail's topic and sessions' are not ordered together: an answer that comes first is
    kept by dossier id (not retried into the dead letters) and applied when the file is created."""
    r = remuneration
    dossier = uuid4()
    await r.sessions.publish(answer(dossier, True, datetime(2021, 6, 2, 9, tzinfo=UTC), "20.81"), dossier)
    engine = create_async_engine(r.settings.database_url)
    try:
        async def kept_early():
            async with engine.connect() as connection:
                row = select(EarlyFranceTravailAnswer.dossier_id).where(EarlyFranceTravailAnswer.dossier_id == dossier)
                return (await connection.scalar(row)) is not None

        await eventually(kept_early, message="the early answer kept, waiting for its file")
        await r.sessions.enrol(FileSpec(unemployment_benefit=False), dossier_id=dossier)
        await r.wait_file(dossier, lambda f: f["state"] == "awaiting_entry")
        assert (await r.request(dossier)).status_code == 201  # declares no benefit: France Travail's answer wins
        await r.sessions.enter(dossier, date(2021, 6, 1))
        file = await r.wait_file(dossier, lambda f: f["regime"] == "unemployment_insurance", "regime from the early answer")
        assert file["france_travail_benefit"] is True
        assert not await kept_early(), "the early answer moved onto its file"
    finally:
        await engine.dispose()
