"""Request and response bodies. Money travels as JSON strings ("1234.50"): Decimal, never float."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal
from uuid import UUID

from pacte_common.http import NOT_NULL, decimal_input, required_when
from pacte_common.validators import Iban, Nir
from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, ValidationInfo, field_validator

MonthText = Field(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$", examples=["2021-05"])

# An amount as answered: always two decimals ("0.00", "587.10"), a JSON string.
Amount = Annotated[Decimal, PlainSerializer(lambda value: f"{value:.2f}", return_type=str, when_used="json")]
# Free text a person types: no control characters (they would break logs, CSV files and terminals).
Reference = Field(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$",
                  description="The paying agency's own reference (no control characters)")

DailyAmount = decimal_input(ge=0, max_digits=8, decimal_places=2)
MonthlyAmount = decimal_input(ge=0, max_digits=10, decimal_places=2)


class RemunerationRequestIn(BaseModel):
    """The trainee's remuneration request at entry (the RS1 form's facts)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"allOf": [
        required_when({"unemployment_benefit": {"const": True}}, {"unemployment_daily_amount": NOT_NULL}),
        required_when({"unemployment_benefit_end_date": {"type": "string"}}, {"relay_allowance_daily_amount": NOT_NULL}),
    ]})

    dossier_id: UUID = Field(description="The training file (dossier) id from sessions")
    unemployment_benefit: bool = Field(False, description="Receives unemployment benefit (ARE/AREF)")
    unemployment_daily_amount: DailyAmount | None = Field(
        None, validate_default=True,
        description="Daily benefit amount, required with unemployment_benefit",
    )
    unemployment_benefit_end_date: date | None = Field(None, description="End of the benefit rights, when known")
    relay_allowance_daily_amount: DailyAmount | None = Field(
        None, validate_default=True,
        description="Daily amount of the allowance that takes over when the benefit rights end during the training "
                    "(AREF extended, RFF, ASS-F, RFPE; 0 when none): the differential top-up completes it up to "
                    "80 % of the net minimum wage. Required with unemployment_benefit_end_date",
    )
    single_parent: bool = False
    first_time_jobseeker: bool = Field(False, description="Primo-demandeur d'emploi")
    registered_jobseeker: bool = Field(True, description="Registered as a job seeker")
    prior_work_months_last_12: int = Field(0, ge=0, le=12, description="Months worked in the last 12 (prior work record)")
    disabled_worker: bool = Field(False, description="RQTH / BOE")
    prior_monthly_salary: MonthlyAmount | None = None
    transport_allowance: bool = False
    advance_wanted: bool = False
    iban: Iban
    nir: Nir | None = Field(None, description="Only when sessions did not have it; stored encrypted")

    @field_validator("unemployment_daily_amount")
    @classmethod
    def _daily_amount_with_benefit(cls, value, info: ValidationInfo):
        if info.data.get("unemployment_benefit") and value is None:
            raise ValueError("required when unemployment_benefit is true")
        return value

    @field_validator("relay_allowance_daily_amount")
    @classmethod
    def _relay_with_benefit_end(cls, value, info: ValidationInfo):
        if info.data.get("unemployment_benefit_end_date") is not None and value is None:
            raise ValueError("required when unemployment_benefit_end_date is given (0 when no allowance takes over)")
        return value


class RequestAmendmentIn(BaseModel):
    """Corrected facts of the request (only those given change); IBAN and NIR are not amended here."""

    model_config = ConfigDict(extra="forbid")

    unemployment_benefit: bool | None = None
    unemployment_daily_amount: DailyAmount | None = None
    unemployment_benefit_end_date: date | None = None
    relay_allowance_daily_amount: DailyAmount | None = None
    single_parent: bool | None = None
    first_time_jobseeker: bool | None = None
    registered_jobseeker: bool | None = None
    prior_work_months_last_12: int | None = Field(None, ge=0, le=12)
    disabled_worker: bool | None = None
    prior_monthly_salary: MonthlyAmount | None = None
    transport_allowance: bool | None = None


class RequestView(BaseModel):
    request_id: UUID
    filed_at: datetime
    filed_by: str
    facts: dict
    iban_masked: str
    nir_masked: str | None = None


class DebtSummary(BaseModel):
    id: UUID
    state: str
    state_label: str
    amount: Amount
    balance: Amount
    url: str


class FileOut(BaseModel):
    dossier_id: UUID
    person_id: UUID
    organisation_siret: str
    state: str
    state_label: str
    regime: str | None = None
    regime_label: str | None = None
    regime_reason: str | None = None
    differential_eligible: bool = False
    entry_date: date | None = None
    exit_date: date | None = None
    programme_code: str
    request: RequestView | None = None
    attendance_versions: dict[str, int] = Field(
        default_factory=dict, description="Month → latest attendance statement version received from sessions"
    )
    voided_attendance: dict[str, str] = Field(
        default_factory=dict, description="Month → why its statement was voided (a late exit or a cancellation left "
                                          "it outside the training); kept in the history, paid nothing"
    )
    trace_id: str | None = Field(None, description="W3C trace id (32 hex) of the journey: every event about this "
                                                   "file carries it")
    debt_balance: Amount | None = Field(None, description="What the trainee still owes back over every debt "
                                                          "(Region and paying agency only)")
    debts: list[DebtSummary] = Field(default_factory=list, description="The file's debts (Region and paying agency only)")
    france_travail_benefit: bool | None = Field(
        None, description="France Travail's answer to the entry certificate: the person receives unemployment benefit "
                          "(it decides the regime over the request's declaration); null until it answers")
    version: int


class RunIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    month: str = MonthText


class RunOut(BaseModel):
    month: str
    state: str
    state_label: str
    version: int
    computed_at: datetime
    computed_by: str
    validated_at: datetime | None = None
    validated_by: str | None = None
    statements_computed: int
    statements_waiting: int
    payment_lines: int
    months_reviewed: int = Field(0, description="Earlier months recomputed over all files: only months whose facts "
                                                "changed since a validated run settled them")
    total_amount: Amount
    component_totals: dict[str, Amount]
    allowed_actions: list[str]
    statements_url: str
    waiting_url: str = Field(description="The files whose month waits for its attendance statement")
    batch_url: str | None = None


class ComponentOut(BaseModel):
    code: str
    label: str
    amount: Amount
    explanation: str


class AdjustmentOut(BaseModel):
    concerned_month: str
    attendance_version: int
    recomputed_amount: Amount
    delta: Amount
    explanation: str


class StatementOut(BaseModel):
    id: UUID
    month: str
    run_state: str
    dossier_id: UUID
    person_id: UUID
    status: Literal["computed", "waiting"]
    waiting_reason: str | None = None
    regime: str
    regime_label: str
    regime_reason: str
    scale_version: str | None = None
    inputs: dict[str, str]
    components: list[ComponentOut]
    earned_amount: Amount
    amount: Amount
    advance_outstanding_after: Amount
    overpayment_outstanding_after: Amount
    adjustments: list[AdjustmentOut] = Field(default_factory=list)
    reviewed_months: list[str] = Field(default_factory=list, description="Earlier months recomputed for this "
                                       "statement (their facts changed, or were never settled)")
    trace_id: str | None = Field(None, description="W3C trace id (32 hex) of the file's journey when computed")


class EmergencyAidIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dossier_id: UUID
    household_size: int = Field(ge=1, le=30, description="People in the household")
    monthly_resources: MonthlyAmount = Field(description="Household monthly resources")
    comment: str | None = Field(None, max_length=1000)


class EmergencyAidOut(BaseModel):
    id: UUID
    dossier_id: UUID
    decision: Literal["granted", "refused"]
    reason_code: str
    reason: str
    amount: Amount
    household_size: int
    monthly_resources: Amount
    paid_in_run: str | None = None
    created_at: datetime


class RepaymentOut(BaseModel):
    id: UUID
    amount: Amount
    received_on: date
    reference: str
    recorded_by: str
    recorded_at: datetime


class DebtTransitionOut(BaseModel):
    action: str
    from_state: str | None = None
    to_state: str
    actor: str
    at: datetime
    reason: str | None = None


class DebtOut(BaseModel):
    id: UUID
    dossier_id: UUID
    person_id: UUID
    organisation_siret: str
    run_month: str = Field(description="The run whose validation opened the debt")
    state: str
    state_label: str
    amount: Amount = Field(description="What was owed when the debt was opened")
    repaid_amount: Amount
    written_off_amount: Amount
    balance: Amount = Field(description="What is still owed: amount − repaid − written off")
    origin_months: list[str]
    explanation: str
    opened_at: datetime
    demanded_at: datetime | None = None
    demand_reference: str | None = None
    write_off_reason: str | None = None
    allowed_actions: list[str]
    repayments: list[RepaymentOut] = Field(default_factory=list)
    history: list[DebtTransitionOut] = Field(default_factory=list)
    version: int


class DebtTotals(BaseModel):
    owed_debts: int
    owed_balance: Amount


class DemandIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reference: str = Reference
    demanded_on: date = Field(description="The day the demand was sent to the trainee")


class RepaymentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Positive: the pattern leaves out every way of writing zero, so the schema says what the rule says.
    amount: decimal_input(gt=0, max_digits=12, decimal_places=2,
                          pattern=r"^(0\.(0[1-9]|[1-9][0-9]?)|[1-9][0-9]{0,9}(\.[0-9]{1,2})?)$") = Field(
        description="What was received (more than 0.00)")
    received_on: date
    reference: str = Reference


class WriteOffIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=3, max_length=1000, pattern=r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]+$",
                        description="Why the Region gives up recovering what is left (kept in the debt's history)")
