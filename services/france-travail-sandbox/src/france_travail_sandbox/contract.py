"""The France Travail contract as the sandbox implements it (docs/france-travail.md)."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal

from pacte_common.http import IsoDate, decimal_input
from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator

CONTRACT_VERSION = "1.0"
IDENTIFIER = re.compile(r"^(?:[0-9A-Z]{3})?[0-9]{7}[0-9A-Z]$")


class Kind(StrEnum):
    AIS = "ais"
    AES = "aes"
    INTERRUPTION = "interruption"
    RESUMPTION = "resumption"
    END = "end"
    CANCELLATION = "cancellation"
    ATTENDANCE = "attendance"


class Training(BaseModel):
    title: str | None = None
    organisation_siret: str | None = None
    start_date: IsoDate | None = None
    end_date: IsoDate | None = None


class AttendanceData(BaseModel):
    """The `data` of an `attendance` certificate: one month's hours signed on the attendance
    sheets (docs/france-travail.md §5); a correction of the month is a higher `version`."""

    model_config = ConfigDict(extra="forbid")

    month: str = Field(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$")
    version: int = Field(ge=1)
    planned_hours: Decimal = Field(ge=0, allow_inf_nan=False)
    signed_hours: Decimal = Field(ge=0, allow_inf_nan=False, description="Hours signed on the sheets, at most planned_hours")
    justified_absence_hours: Decimal = Field(ge=0, allow_inf_nan=False)
    unjustified_absence_hours: Decimal = Field(ge=0, allow_inf_nan=False)
    in_company_hours: Decimal = Field(Decimal("0"), ge=0, allow_inf_nan=False)


class CertificateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Kind
    france_travail_id: str = Field(min_length=1, max_length=32)
    reference: str = Field(min_length=1, max_length=64, description="The sender's file reference (Pacte dossier id)")
    training: Training = Field(default_factory=Training)
    data: dict[str, Any] = Field(
        default_factory=dict, description="The certificate's own data by kind; an attendance's is checked as AttendanceData"
    )


class Benefit(BaseModel):
    unemployment_benefit: bool
    daily_amount: Decimal | None = None
    end_date: date | None = None


class CertificateAnswer(BaseModel):
    status: Literal["acknowledged"] = "acknowledged"
    certificate_id: str
    kind: Kind
    reference: str
    replayed: bool = False
    benefit: Benefit | None = Field(None, description="On an AES: whether the person receives unemployment benefit")


class Refusal(BaseModel):
    status: Literal["refused"] = "refused"
    code: str
    message: str


# Euros a day; negative allowed: the sandbox can then answer a malformed benefit (the gateway refuses it).
DailyAmount = decimal_input(max_digits=8, decimal_places=2, description="Euros a day, written like 31.20")


class JobSeeker(BaseModel):
    model_config = ConfigDict(extra="forbid")

    france_travail_id: str = Field(pattern=IDENTIFIER.pattern)
    unemployment_benefit: StrictBool = False
    daily_amount: DailyAmount | None = None
    end_date: IsoDate | None = None


class NumbersNotBooleans(BaseModel):
    """Closed, and a number is a number: `false` is not 0 (pydantic alone takes it)."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _no_booleans(cls, value: Any, info) -> Any:
        if isinstance(value, bool) and cls.model_fields[info.field_name].annotation in (int, float):
            raise ValueError("a number, not a boolean")
        return value


class RefusalRule(NumbersNotBooleans):
    kind: str = Field("*", description="Certificate kind to refuse, or * for any")
    france_travail_id: str | None = Field(None, description="Only this person's certificates (None: anyone's)")
    code: str
    message: str = "Refused by fault injection"
    remaining: int = Field(1, ge=1)


class Faults(NumbersNotBooleans):
    down: StrictBool = Field(False, description="Every certificate call answered 503, nothing processed")
    errors_next: int = Field(0, ge=0, description="The next N calls answered 500, nothing processed")
    timeouts_next: int = Field(0, ge=0, description="The next N calls processed, then answered after timeout_delay_s")
    timeout_delay_s: float = Field(10.0, ge=0, le=15)
    latency_ms: int = Field(0, ge=0, le=5000, description="Every call answered this much later")
    duplicates_next: int = Field(
        0, ge=0, description="The next N calls processed, their answer lost (503): the resend gets it again, replayed"
    )
    refusals: list[RefusalRule] = Field(default_factory=list)
