"""Integration events: one tiny base, a registry by CloudEvents type, the Kafka binary-mode envelope.

An event class declares its CloudEvents `type` (which carries the version) and its topic:

    class TraineeEntered(IntegrationEvent):
        event_type: ClassVar[str] = "fr.paysdelaloire.pacte.trainee.entered.v1"
        topic: ClassVar[str] = Topics.TRAINEES
        dossier_id: UUID
        ...

Attributes travel as `ce_*` headers, the payload as a JSON body (docs/conventions.md §1.1).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from pacte_common.clock import utcnow

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/json"
TYPE_PREFIX = "fr.paysdelaloire.pacte."


class Topics:
    PRESCRIPTIONS = "pacte.orientation.prescriptions.v1"
    CATALOGUE = "pacte.sessions.catalogue.v1"
    TRAINEES = "pacte.sessions.trainees.v1"
    ATTENDANCE = "pacte.sessions.attendance.v1"
    PAYMENTS = "pacte.remuneration.payments.v1"
    AGORA_FLOWS = "pacte.agora.flows.v1"
    ATTENDANCE_SHEETS = "pacte.attendance.sheets.v1"
    FRANCE_TRAVAIL = "pacte.france-travail.answers.v1"
    # Services' own technical topics (skeleton heartbeats), kept apart from business streams.
    ALL = (PRESCRIPTIONS, CATALOGUE, TRAINEES, ATTENDANCE, PAYMENTS, AGORA_FLOWS, ATTENDANCE_SHEETS, FRANCE_TRAVAIL)


def dead_letter_topic(topic: str, group: str) -> str:
    return f"{topic}.dlq.{group}"


class IntegrationEvent(BaseModel):
    """Base of every event payload. Subclasses set `event_type` and `topic`."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    event_type: ClassVar[str]
    topic: ClassVar[str]


class EventError(ValueError):
    """An incoming message that cannot be turned into a known event."""


_REGISTRY: dict[str, type[IntegrationEvent]] = {}


def register(cls: type[IntegrationEvent]) -> type[IntegrationEvent]:
    """Class decorator: makes the event type known to consumers and to the AsyncAPI catalogue."""
    if not cls.event_type.startswith(TYPE_PREFIX) or not cls.event_type.rsplit(".", 1)[-1].startswith("v"):
        raise ValueError(f"event type {cls.event_type!r} must be {TYPE_PREFIX}<aggregate>.<event>.v<N>")
    existing = _REGISTRY.get(cls.event_type)
    if existing is not None and existing is not cls and existing.__qualname__ != cls.__qualname__:
        raise ValueError(f"event type {cls.event_type!r} registered twice")
    _REGISTRY[cls.event_type] = cls
    return cls


def registered_events() -> dict[str, type[IntegrationEvent]]:
    return dict(_REGISTRY)


def event_class(event_type: str) -> type[IntegrationEvent]:
    try:
        return _REGISTRY[event_type]
    except KeyError:
        raise EventError(f"unknown event type {event_type!r}") from None


@dataclass(frozen=True)
class Envelope:
    """A CloudEvent: attributes plus the typed payload."""

    type: str
    source: str
    subject: str
    data: IntegrationEvent
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    time: datetime = field(default_factory=utcnow)
    traceparent: str | None = None

    @classmethod
    def wrap(cls, event: IntegrationEvent, *, source: str, subject: str, traceparent: str | None = None) -> Envelope:
        return cls(type=event.event_type, source=source, subject=subject, data=event, traceparent=traceparent)

    def body(self) -> bytes:
        return self.data.model_dump_json().encode()

    def headers(self) -> list[tuple[str, bytes]]:
        headers = [
            ("ce_specversion", SPEC_VERSION),
            ("ce_id", self.id),
            ("ce_source", self.source),
            ("ce_type", self.type),
            ("ce_time", self.time.astimezone(UTC).isoformat().replace("+00:00", "Z")),
            ("ce_subject", self.subject),
            ("content-type", CONTENT_TYPE),
        ]
        if self.traceparent:
            headers.append(("traceparent", self.traceparent))
        return [(name, value.encode()) for name, value in headers]


def decode(headers: list[tuple[str, bytes]] | tuple, body: bytes | None) -> Envelope:
    """Kafka message → Envelope. Raises EventError naming what is wrong, never anything else."""
    attributes: dict[str, str] = {}
    for name, value in headers or ():
        try:
            attributes[name] = value.decode() if isinstance(value, bytes) else str(value)
        except UnicodeDecodeError:
            raise EventError(f"header {name!r} is not UTF-8") from None
    for required in ("ce_id", "ce_type", "ce_source", "ce_specversion"):
        if not attributes.get(required):
            raise EventError(f"missing CloudEvents header {required!r}")
    if attributes["ce_specversion"] != SPEC_VERSION:
        raise EventError(f"unsupported CloudEvents specversion {attributes['ce_specversion']!r}")
    cls = event_class(attributes["ce_type"])
    try:
        payload = json.loads(body or b"")
        data = cls.model_validate(payload)
    except json.JSONDecodeError as exc:
        raise EventError(f"body is not JSON: {exc.msg}") from None
    except ValidationError as exc:
        fields = ", ".join(".".join(map(str, err["loc"])) + ": " + err["msg"] for err in exc.errors())
        raise EventError(f"payload does not match {cls.event_type}: {fields}") from None
    try:
        time = datetime.fromisoformat(attributes.get("ce_time", "").replace("Z", "+00:00"))
    except ValueError:
        time = utcnow()
    return Envelope(
        type=cls.event_type,
        source=attributes["ce_source"],
        subject=attributes.get("ce_subject", ""),
        data=data,
        id=attributes["ce_id"],
        time=time,
        traceparent=attributes.get("traceparent"),
    )
