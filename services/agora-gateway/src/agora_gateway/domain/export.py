"""The back-fill export line format (NDJSON, one training file per line; docs/agora-contract.md §Back-fill export format).

Example line:

    {"dossier_id": "8c0f…", "person": {"birth_name": "MARTIN", "first_names": "Léa",
     "birth_date": "1990-04-02", "sex": "F", "nir": "290042912345678"},
     "organisation_siret": "73282932000074", "programme_code": "VISA-METIERS",
     "agora_category": "standard", "delegated_to_france_travail": false,
     "action_title": "Soudeur", "session_start_date": "2018-01-08", "session_end_date": "2018-06-29",
     "status": "settled", "entry_date": "2018-01-08",
     "interruptions": [{"start_date": "2018-03-01", "reason": "health", "resumption_date": "2018-03-12"}],
     "exit": {"exit_date": "2018-06-29", "exit_kind": "completed"},
     "settlement": {"realised_hours": "420", "hourly_price": "12.50", "cost": "5250.00"}}
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Literal
from uuid import UUID

from pacte_common.contracts.people import PersonIdentity
from pacte_common.crypto import FieldCipher
from pacte_common.validators import Nir
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from agora_gateway.domain.backfill import EXPORT_STATUS_TO_FILE_STATE
from agora_gateway.domain.requests import NotSendable, agora_nir

RECORD_CONTEXT = "agora-gateway.backfill-record.v1"


class ExportPerson(BaseModel):
    model_config = ConfigDict(extra="ignore")

    birth_name: str = Field(min_length=1)
    first_names: str = ""
    birth_date: date
    sex: Literal["M", "F"]
    nir: Nir | None = None


class ExportInterruption(BaseModel):
    start_date: date
    reason: str = "other"
    resumption_date: date | None = None


class ExportExit(BaseModel):
    exit_date: date
    exit_kind: str = "completed"
    dropout_reason: str | None = None
    certification_result: str | None = None


class ExportSettlement(BaseModel):
    realised_hours: Decimal = Field(ge=0)
    hourly_price: Decimal = Field(ge=0)
    cost: Decimal = Field(ge=0)


class ExportLine(BaseModel):
    model_config = ConfigDict(extra="ignore")

    dossier_id: UUID
    person: ExportPerson
    organisation_siret: str
    programme_code: str
    agora_category: str = "standard"
    delegated_to_france_travail: bool = False
    action_title: str = ""
    session_start_date: date
    session_end_date: date
    status: Literal["enrolled", "in_training", "interrupted", "exited", "settled", "cancelled"]
    entry_date: date | None = None
    interruptions: list[ExportInterruption] = Field(default_factory=list)
    exit: ExportExit | None = None
    settlement: ExportSettlement | None = None
    cancellation_reason: str | None = None
    hourly_price: Decimal | None = None

    @model_validator(mode="after")
    def _complete_for_status(self) -> ExportLine:
        if self.status in ("in_training", "interrupted", "exited", "settled") and self.entry_date is None:
            raise ValueError(f"entry_date is required when status is {self.status}")
        if self.status in ("exited", "settled") and self.exit is None:
            raise ValueError(f"exit is required when status is {self.status}")
        if self.status == "settled" and self.settlement is None:
            raise ValueError("settlement is required when status is settled")
        return self


class BadLine(ValueError):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def parse_line(raw: str) -> ExportLine:
    """One export line → ExportLine, or BadLine naming what is wrong (never the NIR)."""
    try:
        return ExportLine.model_validate_json(raw)  # a good line: parsed and checked in one pass
    except ValidationError:
        pass  # a bad one: read again below, to name what is wrong as the export's owner sees it
    try:
        payload = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise BadLine("not_json", f"not JSON: {exc.msg} at column {exc.colno}") from None
    if not isinstance(payload, dict):
        raise BadLine("not_an_object", "a line must be a JSON object")
    try:
        return ExportLine.model_validate(payload)
    except ValidationError as exc:
        fields = "; ".join(
            ".".join(map(str, e["loc"])) + ": " + e["msg"].removeprefix("Value error, ") for e in exc.errors(include_input=False)
        )
        raise BadLine("invalid_field", fields) from None


def bulk_record(line: ExportLine, agora_nir: str | None, trainee_status: str) -> dict:
    """The contract's BulkRecord for one export line (JSON form: dates ISO, amounts as strings)."""
    person = line.person
    return {
        "funder_ref": str(line.dossier_id),
        "identity": {
            "birth_name": person.birth_name,
            "first_names": person.first_names,
            "birth_date": person.birth_date.isoformat(),
            "sex": person.sex,
            "nir": agora_nir,
            "status": trainee_status,
        },
        "organisation_siret": line.organisation_siret,
        "programme_code": line.programme_code,
        "action_title": line.action_title,
        "session_start_date": line.session_start_date.isoformat(),
        "session_end_date": line.session_end_date.isoformat(),
        "hourly_price": None if line.hourly_price is None else str(line.hourly_price),
        "state": EXPORT_STATUS_TO_FILE_STATE[line.status].value,
        "entry_date": None if line.entry_date is None else line.entry_date.isoformat(),
        "interruptions": [i.model_dump(mode="json") for i in line.interruptions],
        "exit": line.exit.model_dump(mode="json") if line.exit else None,
        "settlement": line.settlement.model_dump(mode="json") if line.settlement else None,
        "cancellation_reason": line.cancellation_reason,
    }


def seal_record(cipher: FieldCipher, record: dict) -> str:
    """A bulk record kept until its NIR comes (names inside: encrypted at rest)."""
    return cipher.encrypt(json.dumps(record, ensure_ascii=False), context=RECORD_CONTEXT)


def kept_record_request(cipher: FieldCipher, sealed: str, identity: PersonIdentity | None) -> dict:
    """The kept bulk record with the NIR the file has now (first 13 characters, docs/rules.md §6.4)."""
    record = json.loads(cipher.decrypt(sealed, context=RECORD_CONTEXT))
    nir = agora_nir(identity)
    if nir is None:
        raise NotSendable("missing_nir", "The file has no NIR yet")
    record["identity"]["nir"] = nir
    return record
