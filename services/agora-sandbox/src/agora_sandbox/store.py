"""What the sandbox holds, and the checks AGORA makes before accepting an operation.

Everything is in memory (a development and test server): files, the operations each one
received (with the trace id of the call's `traceparent`), and the first answer given to
each idempotency key. Calls are handled without awaiting between the key lookup and the
answer being stored, so two concurrent requests with one key cannot both be applied.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from itertools import count
from typing import Any

from pacte_common.clock import utcnow
from pacte_common.validators import validate_siret
from pydantic import ValidationError

from agora_sandbox import contract as c
from agora_sandbox.rules import FileState, Operation, apply

NIR_13 = re.compile(r"^[1-478]\d{4}(\d{2}|2A|2B)\d{6}$")
CENT = Decimal("0.01")


class Rejected(Exception):
    def __init__(self, code: str, message: str, http_status: int = 422):
        super().__init__(message)
        self.code, self.message, self.http_status = code, message, http_status

    def body(self) -> dict:
        return c.Rejection(code=self.code, message=self.message).model_dump()


@dataclass
class HeldFile:
    agora_file_id: str
    funder_ref: str
    data: dict[str, Any]  # the create payload, as received (JSON-ready)
    state: FileState = FileState.CREATED
    nir: str | None = None
    entry_date: date | None = None
    interruptions: list[dict[str, Any]] = field(default_factory=list)
    exit: dict[str, Any] | None = None
    settlement: dict[str, Any] | None = None
    cancellation_reason: str | None = None
    loaded_by_bulk: bool = False
    operations: list[dict[str, Any]] = field(default_factory=list)

    @property
    def last_event_date(self) -> date | None:
        dates = [self.entry_date] + [i["start_date"] for i in self.interruptions] + [
            i.get("resumption_date") for i in self.interruptions
        ]
        dates = [d for d in dates if d is not None]
        return max(dates) if dates else None

    def view(self) -> dict[str, Any]:
        return _jsonable({
            "agora_file_id": self.agora_file_id,
            "funder_ref": self.funder_ref,
            "state": self.state.value,
            "nir": self.nir,
            "identity": {k: v for k, v in self.data["identity"].items() if k != "nir"},
            "organisation_siret": self.data["organisation_siret"],
            "programme_code": self.data["programme_code"],
            "session_start_date": self.data["session_start_date"],
            "session_end_date": self.data["session_end_date"],
            "entry_date": self.entry_date,
            "interruptions": self.interruptions,
            "exit": self.exit,
            "settlement": self.settlement,
            "cancellation_reason": self.cancellation_reason,
            "loaded_by_bulk": self.loaded_by_bulk,
            "operations": self.operations,
        })


@dataclass
class StoredAnswer:
    fingerprint: str
    status_code: int
    body: dict[str, Any]


def fingerprint(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


class SandboxStore:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.files: dict[str, HeldFile] = {}
        self.by_ref: dict[str, str] = {}
        self.answers: dict[str, StoredAnswer] = {}
        self.duplicates_absorbed = 0
        self.operations_acknowledged = 0
        self.rejections: dict[str, int] = {}
        self.bulk_calls = 0
        self._ids = count(1)

    # ------------------------------------------------------------- idempotency

    def replay(self, key: str, payload: Any) -> StoredAnswer | None:
        """The first answer to this key, or None for a new key; a new body is a rejection."""
        stored = self.answers.get(key)
        if stored is None:
            return None
        if stored.fingerprint != fingerprint(payload):
            raise Rejected(c.IDEMPOTENCY_KEY_REUSED, "This Idempotency-Key was used with another body")
        self.duplicates_absorbed += 1
        return stored

    def remember(self, key: str, payload: Any, status_code: int, body: dict) -> None:
        self.answers[key] = StoredAnswer(fingerprint(payload), status_code, body)

    def count_rejection(self, code: str) -> None:
        self.rejections[code] = self.rejections.get(code, 0) + 1

    # ------------------------------------------------------------- operations

    def operate(self, request: c.OperationRequest, key: str, trace_id: str | None = None) -> dict:
        """`trace_id`: of the call's `traceparent` header, recorded with the operation."""
        operation = Operation(request.operation)
        data = _parse(c.OPERATION_DATA[operation.value], request.data)
        if operation is Operation.CREATE:
            held = self._create(data, key, trace_id)
        else:
            held = self._find(request.agora_file_id)
            self._check_order(held, operation)
            getattr(self, f"_{operation.value}")(held, data)
            held.state = apply(held.state, operation)
            held.operations.append(_op_log(operation, key, trace_id))
        self.operations_acknowledged += 1
        return c.Acknowledgement(
            operation=operation.value, agora_file_id=held.agora_file_id, file_state=held.state.value
        ).model_dump()

    def search(self, query: c.SearchRequest) -> list[dict]:
        found = []
        if query.funder_ref and query.funder_ref in self.by_ref:
            found.append(self.files[self.by_ref[query.funder_ref]])
        elif query.nir:
            for held in self.files.values():
                if held.nir == query.nir and (
                    query.organisation_siret in (None, held.data["organisation_siret"])
                ) and (query.session_start_date is None or str(query.session_start_date) == str(held.data["session_start_date"])):
                    found.append(held)
        return [f.view() for f in found]

    def bulk_one(self, raw: dict, key: str, trace_id: str | None = None) -> dict:
        """One back-fill record: the whole file in one go, or a coded rejection for that record."""
        funder_ref = str(raw.get("funder_ref", "")) if isinstance(raw, dict) else ""
        try:
            record = _parse(c.BulkRecord, raw)
            self._check_file(record)
            if record.funder_ref in self.by_ref:
                raise Rejected(c.FILE_EXISTS, f"A file already exists for funder_ref {record.funder_ref}")
            steps = self._bulk_steps(record)
            held = HeldFile(
                agora_file_id=self._new_id(),
                funder_ref=record.funder_ref,
                data=_jsonable(record.model_dump(include=set(c.FileData.model_fields))),
                nir=record.identity.nir,
                loaded_by_bulk=True,
            )
            for operation, data in steps:
                self._check_order(held, operation)
                if data is not None:
                    getattr(self, f"_{operation.value}")(held, data)
                held.state = apply(held.state, operation)
            held.operations.append(_op_log(Operation.BULK_LOAD, key, trace_id))
        except Rejected as rejected:
            self.count_rejection(rejected.code)
            return {"funder_ref": funder_ref, **rejected.body()}
        self._store(held)
        self.operations_acknowledged += 1
        return {
            "funder_ref": record.funder_ref,
            **c.Acknowledgement(
                operation=Operation.BULK_LOAD.value, agora_file_id=held.agora_file_id, file_state=held.state.value
            ).model_dump(),
        }

    # ------------------------------------------------------------- checks and effects

    def _create(self, data: c.FileData, key: str, trace_id: str | None = None) -> HeldFile:
        self._check_file(data)
        if data.funder_ref in self.by_ref:
            raise Rejected(c.FILE_EXISTS, f"A file already exists for funder_ref {data.funder_ref}", 409)
        held = HeldFile(
            agora_file_id=self._new_id(), funder_ref=data.funder_ref, data=_jsonable(data.model_dump()), nir=data.identity.nir
        )
        held.operations.append(_op_log(Operation.CREATE, key, trace_id))
        self._store(held)
        return held

    def _check_file(self, data: c.FileData) -> None:
        if data.identity.nir is not None:
            _check_nir(data.identity.nir)
        try:
            validate_siret(data.organisation_siret)
        except ValueError as exc:
            raise Rejected(c.INVALID_SIRET, str(exc)) from None
        if data.session_end_date < data.session_start_date:
            raise Rejected(c.DATES_OUT_OF_ORDER, "session_end_date is before session_start_date")

    def _bulk_steps(self, record: c.BulkRecord) -> list[tuple[Operation, Any]]:
        """The operations a bulk record stands for, in order (checked like live ones)."""
        target = FileState(record.state)
        steps: list[tuple[Operation, Any]] = []
        if target is FileState.CREATED or (target is FileState.CANCELLED and record.entry_date is None):
            pass
        else:
            if record.entry_date is None:
                raise Rejected(c.INVALID_PAYLOAD, f"entry_date is required for a file in state {target}")
            steps.append((Operation.ENTER, c.EntryData(entry_date=record.entry_date)))
            for interruption in record.interruptions:
                steps.append((Operation.INTERRUPT, c.InterruptionData(start_date=interruption.start_date, reason=interruption.reason)))
                if interruption.resumption_date is not None:
                    steps.append((Operation.RESUME, c.ResumptionData(resumption_date=interruption.resumption_date)))
            if target in (FileState.EXITED, FileState.SETTLED) or (target is FileState.CANCELLED and record.exit):
                if record.exit is None:
                    raise Rejected(c.INVALID_PAYLOAD, f"exit is required for a file in state {target}")
                steps.append((Operation.EXIT, record.exit))
            if target is FileState.SETTLED or (target is FileState.CANCELLED and record.settlement):
                if record.settlement is None:
                    raise Rejected(c.INVALID_PAYLOAD, "settlement is required for a settled file")
                steps.append((Operation.SETTLE, record.settlement))
        if target is FileState.CANCELLED:
            steps.append((Operation.CANCEL, c.CancellationData(reason=record.cancellation_reason)))
        return steps

    def _find(self, agora_file_id: str | None) -> HeldFile:
        held = self.files.get(agora_file_id or "")
        if held is None:
            raise Rejected(c.UNKNOWN_FILE, f"No file {agora_file_id!r} at AGORA", 404)
        return held

    @staticmethod
    def _check_order(held: HeldFile, operation: Operation) -> None:
        try:
            apply(held.state, operation)
        except ValueError as exc:
            raise Rejected(c.ILLEGAL_ORDER, str(exc), 409) from None

    def _enter(self, held: HeldFile, data: c.EntryData) -> None:
        start = date.fromisoformat(str(held.data["session_start_date"]))
        end = date.fromisoformat(str(held.data["session_end_date"]))
        if not start <= data.entry_date <= end:
            raise Rejected(c.DATES_OUT_OF_ORDER, "entry_date must lie within the session period")
        held.entry_date = data.entry_date

    def _interrupt(self, held: HeldFile, data: c.InterruptionData) -> None:
        if held.last_event_date and data.start_date < held.last_event_date:
            raise Rejected(c.DATES_OUT_OF_ORDER, "the interruption starts before the file's last event")
        held.interruptions.append(
            {"start_date": data.start_date, "reason": data.reason, "expected_return_date": data.expected_return_date, "resumption_date": None}
        )

    def _resume(self, held: HeldFile, data: c.ResumptionData) -> None:
        current = held.interruptions[-1]
        if data.resumption_date < current["start_date"]:
            raise Rejected(c.DATES_OUT_OF_ORDER, "the resumption is before the interruption's start")
        current["resumption_date"] = data.resumption_date

    def _exit(self, held: HeldFile, data: c.ExitData) -> None:
        if held.last_event_date and data.exit_date < held.last_event_date:
            raise Rejected(c.DATES_OUT_OF_ORDER, "exit_date is before the file's last event")
        held.exit = _jsonable(data.model_dump())

    def _settle(self, held: HeldFile, data: c.SettlementData) -> None:
        expected = (data.realised_hours * data.hourly_price).quantize(CENT, ROUND_HALF_UP)
        if data.cost.quantize(CENT, ROUND_HALF_UP) != expected:
            raise Rejected(c.COST_MISMATCH, f"cost {data.cost} is not realised_hours × hourly_price = {expected}")
        held.settlement = {k: str(v) for k, v in data.model_dump().items()}

    def _cancel(self, held: HeldFile, data: c.CancellationData) -> None:
        held.cancellation_reason = data.reason

    def _add_nir(self, held: HeldFile, data: c.NirData) -> None:
        _check_nir(data.nir)
        if held.nir and held.nir != data.nir:
            raise Rejected(c.NIR_ALREADY_SET, "The file already has another NIR", 409)
        held.nir = data.nir

    def _new_id(self) -> str:
        return f"AGORA-{next(self._ids):09d}"

    def _store(self, held: HeldFile) -> None:
        self.files[held.agora_file_id] = held
        self.by_ref[held.funder_ref] = held.agora_file_id

    # ------------------------------------------------------------- what it holds

    def holdings(self, include_files: bool, funder_ref: str | None = None) -> dict:
        states: dict[str, int] = {}
        for held in self.files.values():
            states[held.state.value] = states.get(held.state.value, 0) + 1
        body: dict[str, Any] = {
            "contract_version": c.CONTRACT_VERSION,
            "files_total": len(self.files),
            "files_by_state": dict(sorted(states.items())),
            "operations_acknowledged": self.operations_acknowledged,
            "duplicates_absorbed": self.duplicates_absorbed,
            "rejections": dict(sorted(self.rejections.items())),
            "bulk_calls": self.bulk_calls,
        }
        if include_files or funder_ref:
            files = self.files.values()
            if funder_ref:
                files = [self.files[self.by_ref[funder_ref]]] if funder_ref in self.by_ref else []
            body["files"] = [f.view() for f in files]
        return body


def _check_nir(nir: str) -> None:
    if not NIR_13.match(nir):
        raise Rejected(c.INVALID_NIR, "nir must be the NIR's first 13 characters (no key)")


def _parse(model: type, raw: Any):
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        fields = "; ".join(".".join(map(str, e["loc"])) + ": " + e["msg"] for e in exc.errors())
        raise Rejected(c.INVALID_PAYLOAD, fields) from None


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _op_log(operation: Operation, key: str, trace_id: str | None = None) -> dict:
    return {"operation": operation.value, "idempotency_key": key, "received_at": utcnow().isoformat(), "trace_id": trace_id}
