"""The AGORA JSON contract, version 1 (docs/agora-contract.md): the
request and answer bodies, as AGORA (here the sandbox) validates them.

The wire model belongs to the sandbox: the gateway builds the same bodies from its own domain
(agora_gateway.domain.requests) and never imports this module. Checks that AGORA makes on the content (NIR, SIRET, date order,
operation order, cost) are in `store.py`, where they become coded rejections rather than
schema errors.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pacte_common.http import IsoDate, decimal_input
from pacte_common.validators import SIRET_SCHEMA
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

CONTRACT_VERSION = "1"


# What AGORA checks on these (a coded 422 rejection, store.py), said in the schema.
Nir13 = Annotated[str, WithJsonSchema({"type": "string", "pattern": "^[1-478][0-9]{4}([0-9]{2}|2A|2B)[0-9]{6}$"})]
SiretText = Annotated[str, WithJsonSchema(SIRET_SCHEMA)]
# hours and euros to the cent, as sessions computes them; a string or an integer, never a float
Amount = decimal_input(ge=0, max_digits=12, decimal_places=2)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Identity(Strict):
    birth_name: str = Field(min_length=1)
    first_names: str = ""
    birth_date: IsoDate
    sex: Literal["M", "F"]
    nir: Nir13 | None = Field(None, description="The NIR's first 13 characters (no key); null when not known yet")
    status: str = Field("job_seeker", description="Trainee status (statut du stagiaire)")


class FileData(Strict):
    """`create`: the file as the funder knows it before entry."""

    funder_ref: str = Field(description="The funder's file reference (the Pacte dossier id)")
    funder: str = "region-pays-de-la-loire"
    identity: Identity
    organisation_siret: SiretText
    programme_code: str
    action_title: str = ""
    session_start_date: IsoDate
    session_end_date: IsoDate
    hourly_price: Amount | None = None


class EntryData(Strict):
    entry_date: IsoDate


class InterruptionData(Strict):
    start_date: IsoDate
    reason: str
    expected_return_date: IsoDate | None = None


class ResumptionData(Strict):
    resumption_date: IsoDate


class ExitData(Strict):
    exit_date: IsoDate
    exit_kind: str
    dropout_reason: str | None = None
    certification_result: str | None = None


class SettlementData(Strict):
    realised_hours: Amount
    hourly_price: Amount
    cost: Amount


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
    session_start_date: IsoDate | None = None


class BulkInterruption(Strict):
    start_date: IsoDate
    reason: str = "other"
    resumption_date: IsoDate | None = None


class BulkRecord(FileData):
    """One whole file for the back-fill: created and brought to `state` in one go."""

    state: Literal["created", "in_training", "interrupted", "exited", "settled", "cancelled"]
    entry_date: IsoDate | None = None
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


# Rejection codes (docs/agora-contract.md §Rejection codes)
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
