"""What the sandbox holds, in memory: job seekers, certificates per file, answers per key."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from france_travail_sandbox import contract as c
from france_travail_sandbox.settings import FranceTravailSandboxSettings


class Refused(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(code)
        self.code, self.message = code, message


# What must have been acknowledged before a certificate of each kind (for the same file).
REQUIRES = {
    c.Kind.AES: c.Kind.AIS,
    c.Kind.INTERRUPTION: c.Kind.AES,
    c.Kind.RESUMPTION: c.Kind.INTERRUPTION,
    c.Kind.END: c.Kind.AIS,
    c.Kind.CANCELLATION: c.Kind.AIS,
    c.Kind.ATTENDANCE: c.Kind.AES,
}
# What may still come once the training has ended: the last months' signed attendance, closed after the end.
AFTER_END = (c.Kind.CANCELLATION, c.Kind.ATTENDANCE)


@dataclass
class Stored:
    fingerprint: str
    status: int
    body: dict[str, Any]


@dataclass
class FranceTravailStore:
    settings: FranceTravailSandboxSettings
    job_seekers: dict[str, c.JobSeeker] = field(default_factory=dict)
    certificates: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # reference → received, in order
    answers: dict[str, Stored] = field(default_factory=dict)  # idempotency key → first answer
    processed: int = 0

    def register(self, seeker: c.JobSeeker) -> None:
        self.job_seekers[seeker.france_travail_id] = seeker

    def _job_seeker(self, identifier: str) -> c.JobSeeker:
        if not c.IDENTIFIER.fullmatch(identifier):
            raise Refused("invalid_identifier", "The France Travail identifier is not in the expected format")
        seeker = self.job_seekers.get(identifier)
        if seeker is None and self.settings.auto_register and not identifier.startswith(self.settings.unknown_prefix):
            seeker = c.JobSeeker(france_travail_id=identifier)
        if seeker is None:
            raise Refused("unknown_job_seeker", "No job seeker is registered under this identifier")
        return seeker

    def replay(self, key: str, request: c.CertificateRequest) -> Stored | None:
        stored = self.answers.get(key)
        if stored is None:
            return None
        if stored.fingerprint != fingerprint(request):
            raise Refused("idempotency_conflict", "This Idempotency-Key was used with another body")
        return stored

    def certify(self, key: str, request: c.CertificateRequest) -> Stored:
        """Processes one certificate and keeps its answer under the key (refusals too)."""
        try:
            body: dict[str, Any] = self._accept(request).model_dump(mode="json", exclude_none=True)
            status = 200
        except Refused as refused:
            body, status = c.Refusal(code=refused.code, message=refused.message).model_dump(), 422
        stored = Stored(fingerprint(request), status, body)
        self.answers[key] = stored
        self.processed += 1
        return stored

    def _accept(self, request: c.CertificateRequest) -> c.CertificateAnswer:
        seeker = self._job_seeker(request.france_travail_id)
        received = self.certificates.setdefault(request.reference, [])
        kinds = [r["kind"] for r in received]
        needed = REQUIRES.get(request.kind)
        if needed is not None and needed.value not in kinds:
            raise Refused("out_of_order", f"A {request.kind.value} needs an acknowledged {needed.value} first")
        if c.Kind.CANCELLATION.value in kinds or (c.Kind.END.value in kinds and request.kind not in AFTER_END):
            raise Refused("file_closed", "This training is already ended or cancelled")
        if request.kind is c.Kind.ATTENDANCE:
            _check_attendance(request.data, received)
        certificate_id = f"FT-{uuid.uuid4().hex[:12].upper()}"
        received.append({"kind": request.kind.value, "certificate_id": certificate_id, "data": request.data})
        benefit = None
        if request.kind is c.Kind.AES:
            benefit = c.Benefit(unemployment_benefit=seeker.unemployment_benefit, daily_amount=seeker.daily_amount,
                                end_date=seeker.end_date)
        return c.CertificateAnswer(certificate_id=certificate_id, kind=request.kind, reference=request.reference,
                                   benefit=benefit)


def _check_attendance(data: dict[str, Any], received: list[dict[str, Any]]) -> None:
    """The signed month is well formed and newer than the version of that month already received."""
    try:
        month = c.AttendanceData.model_validate(data)
    except ValidationError as exc:
        fields = "; ".join("data." + ".".join(map(str, e["loc"])) + ": " + e["msg"] for e in exc.errors())
        raise Refused("invalid_payload", fields) from exc
    if month.signed_hours > month.planned_hours:
        raise Refused("invalid_payload", "data.signed_hours: more hours signed than planned")
    known = [r["data"]["version"] for r in received if r["kind"] == c.Kind.ATTENDANCE.value and r["data"]["month"] == month.month]
    if known and month.version <= max(known):
        raise Refused("out_of_order", f"Version {month.version} of {month.month} is not newer than version {max(known)}")


def fingerprint(request: c.CertificateRequest) -> str:
    return hashlib.sha256(json.dumps(request.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()
