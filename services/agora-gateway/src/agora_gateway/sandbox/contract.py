"""The AGORA JSON contract, version 1 (docs/agora-contract.md): request and answer bodies.

The gateway's adapter builds these bodies and the sandbox validates them, so both sides
share one definition. Checks that AGORA makes on the content (NIR, SIRET, date order,
operation order, cost) are in `store.py`, where they become coded rejections rather than
schema errors.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

CONTRACT_VERSION = "1"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Identity(Strict):
    birth_name: str = Field(min_length=1)
    first_names: str = ""
    birth_date: date
    sex: Literal["M", "F"]
    nir: str | None = Field(None, description="The NIR's first 13 characters (no key); null when not known yet")
    status: str = Field("job_seeker", description="Trainee status (statut du stagiaire)")


class FileData(Strict):
    """`create`: the file as the funder knows it before entry."""

    funder_ref: str = Field(description="The funder's file reference (the Pacte dossier id)")
    funder: str = "region-pays-de-la-loire"
    identity: Identity
    organisation_siret: str
    programme_code: str
    action_title: str = ""
    session_start_date: date
    session_end_date: date
    hourly_price: Decimal | None = None


class EntryData(Strict):
    entry_date: date


class InterruptionData(Strict):
    start_date: date
    reason: str
    expected_return_date: date | None = None


class ResumptionData(Strict):
    resumption_date: date


class ExitData(Strict):
    exit_date: date
    exit_kind: str
    dropout_reason: str | None = None
    certification_result: str | None = None


class SettlementData(Strict):
    realised_hours: Decimal = Field(ge=0)
    hourly_price: Decimal = Field(ge=0)
    cost: Decimal = Field(ge=0)


class CancellationData(Strict):
    reason: str | None = None


class NirData(Strict):
    nir: str


OPERATION_DATA: dict[str, type[Strict]] = {
    "create": FileData,
    "enter": EntryData,
    "interrupt": InterruptionData,
    "resume": ResumptionData,
    "exit": ExitData,
    "settle": SettlementData,
    "cancel": CancellationData,
    "add_nir": NirData,
}


class OperationRequest(Strict):
    operation: Literal["create", "enter", "interrupt", "resume", "exit", "settle", "cancel", "add_nir"]
    agora_file_id: str | None = Field(None, description="Required for every operation but create")
    data: dict[str, Any]


class SearchRequest(Strict):
    funder_ref: str | None = None
    nir: str | None = None
    organisation_siret: str | None = None
    session_start_date: date | None = None


class BulkInterruption(Strict):
    start_date: date
    reason: str = "other"
    resumption_date: date | None = None


class BulkRecord(FileData):
    """One whole file for the back-fill: created and brought to `state` in one go."""

    state: Literal["created", "in_training", "interrupted", "exited", "settled", "cancelled"]
    entry_date: date | None = None
    interruptions: list[BulkInterruption] = Field(default_factory=list)
    exit: ExitData | None = None
    settlement: SettlementData | None = None
    cancellation_reason: str | None = None


class BulkRequest(Strict):
    files: list[dict[str, Any]] = Field(description="BulkRecord objects; each is checked on its own")


class Acknowledgement(BaseModel):
    status: Literal["acknowledged"] = "acknowledged"
    operation: str
    agora_file_id: str
    file_state: str


class Rejection(BaseModel):
    status: Literal["rejected"] = "rejected"
    code: str
    message: str


# Rejection codes (docs/agora-contract.md)
INVALID_PAYLOAD = "invalid_payload"
INVALID_NIR = "invalid_nir"
INVALID_SIRET = "invalid_siret"
DATES_OUT_OF_ORDER = "dates_out_of_order"
ILLEGAL_ORDER = "illegal_order"
UNKNOWN_FILE = "unknown_file"
FILE_EXISTS = "file_exists"
COST_MISMATCH = "cost_mismatch"
NIR_ALREADY_SET = "nir_already_set"
IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
