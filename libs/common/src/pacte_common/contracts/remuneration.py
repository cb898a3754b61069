"""Events published by the remuneration service on pacte.remuneration.payments.v1.

Keyed by dossier id. No IBAN, NIR or name in them: the beneficiary is the pseudonymous
`person_id`; the paying agency gets the personal data in its batch file only.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import ClassVar, Literal
from uuid import UUID

from pydantic import AwareDatetime, Field

from pacte_common.events import IntegrationEvent, Topics, register

Regime = Literal["unemployment_insurance", "region", "none"]


class RemunerationEvent(IntegrationEvent):
    topic: ClassVar[str] = Topics.PAYMENTS
    dossier_id: UUID
    person_id: UUID
    occurred_at: AwareDatetime


@register
class EntitlementOpened(RemunerationEvent):
    """The file entered and its request is filed: the regime is decided (possibly `none`)."""

    event_type: ClassVar[str] = "fr.paysdelaloire.pacte.remuneration.entitlement-opened.v1"
    regime: Regime
    reason: str
    differential_eligible: bool = False
    entry_date: date
    advance_wanted: bool = False


@register
class EntitlementClosed(RemunerationEvent):
    event_type: ClassVar[str] = "fr.paysdelaloire.pacte.remuneration.entitlement-closed.v1"
    reason: Literal["exited", "cancelled"]
    exit_date: date | None = None


@register
class MonthComputed(RemunerationEvent):
    """One file's statement for one month, frozen by the run's validation."""

    event_type: ClassVar[str] = "fr.paysdelaloire.pacte.remuneration.month-computed.v1"
    month: str = Field(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$")
    statement_id: UUID
    status: Literal["computed", "waiting"]
    regime: Regime
    scale_version: str | None = None
    earned_amount: Decimal
    amount: Decimal
    components: dict[str, Decimal]


@register
class PaymentIssued(RemunerationEvent):
    """An amount put in the paying agency's batch of `month`."""

    event_type: ClassVar[str] = "fr.paysdelaloire.pacte.remuneration.payment-issued.v1"
    month: str = Field(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$")
    statement_id: UUID
    amount: Decimal
    components: dict[str, Decimal]


@register
class EmergencyAidGranted(RemunerationEvent):
    event_type: ClassVar[str] = "fr.paysdelaloire.pacte.remuneration.emergency-aid-granted.v1"
    aid_id: UUID
    amount: Decimal


DebtState = Literal["open", "demanded", "partly_repaid", "repaid", "written_off"]


class DebtEvent(RemunerationEvent):
    """A debt (money owed back once the training is over) and where it stands after the change."""

    debt_id: UUID
    state: DebtState
    amount: Decimal = Field(description="What was owed when the debt was opened")
    balance: Decimal = Field(description="What is still owed: amount − repaid − written off")


@register
class DebtOpened(DebtEvent):
    """A validated run found an overpayment or an advance that no later pay can offset."""

    event_type: ClassVar[str] = "fr.paysdelaloire.pacte.remuneration.debt-opened.v1"
    run_month: str = Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")
    origin_months: list[str] = Field(description="Months recomputed downwards that the debt comes from")


@register
class DebtDemanded(DebtEvent):
    """The paying agency sent the trainee its repayment demand (ordre de reversement)."""

    event_type: ClassVar[str] = "fr.paysdelaloire.pacte.remuneration.debt-demanded.v1"
    demanded_on: date


@register
class DebtRepaymentRecorded(DebtEvent):
    """The paying agency received a repayment."""

    event_type: ClassVar[str] = "fr.paysdelaloire.pacte.remuneration.debt-repayment-recorded.v1"
    repayment_id: UUID
    repaid: Decimal
    received_on: date


@register
class DebtWrittenOff(DebtEvent):
    """The Region gave up recovering what is left (its reason is kept in the debt's history, not here)."""

    event_type: ClassVar[str] = "fr.paysdelaloire.pacte.remuneration.debt-written-off.v1"
    written_off: Decimal
