"""The event catalogue as an AsyncAPI 3.0 document, generated from the registered event models.

Every topic is a channel (its Kafka key named in the description), every CloudEvents type
a message with its JSON Schema payload and the `ce_*` headers; every dead-letter topic a
channel too, whose message is the original one with the `pacte_dlq_*` headers. Payload
schemas are closed (`additionalProperties: false`): the catalogue says what a producer
sends, no more, and the journey tests check every produced event against it, so a field
that should not be there (a NIR) fails. Consumers stay tolerant readers (the event models
ignore unknown fields): docs/events.md says why. Each service serves the part it publishes
(and the dead-letter topics its consumers write) at `/asyncapi.json`; `pacte asyncapi`
prints the whole catalogue.
"""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from pacte_common import contracts  # noqa: F401  (registers every event type)
from pacte_common.events import IntegrationEvent, Topics, dead_letter_topic, registered_events

TOPIC_OWNERS: dict[str, tuple[str, str]] = {
    Topics.PRESCRIPTIONS: ("orientation", "prescription id"),
    Topics.CATALOGUE: ("sessions", "session id"),
    Topics.TRAINEES: ("sessions", "training file (dossier) id"),
    Topics.ATTENDANCE: ("sessions", "training file (dossier) id"),
    Topics.PAYMENTS: ("remuneration", "training file (dossier) id"),
    Topics.AGORA_FLOWS: ("agora-gateway", "training file (dossier) id"),
    Topics.ATTENDANCE_SHEETS: ("attendance", "training file (dossier) id"),
    Topics.FRANCE_TRAVAIL: ("agora-gateway", "training file (dossier) id"),
}

# The consumers (`<service>.<subscription>`) of each topic: each writes what it cannot handle
# to its own dead-letter topic `<topic>.dlq.<consumer>` (pacte_common.consumer). A test
# (tests/test_asyncapi_catalogue.py) checks this table against the services' subscriptions.
DEAD_LETTER_CONSUMERS: dict[str, tuple[str, ...]] = {
    Topics.PRESCRIPTIONS: ("insights.prescriptions", "sessions.prescriptions"),
    Topics.CATALOGUE: ("insights.catalogue", "orientation.catalogue"),
    Topics.TRAINEES: ("agora-gateway.trainees", "attendance.trainees", "insights.trainees", "orientation.trainees", "remuneration.trainees"),
    Topics.ATTENDANCE: ("agora-gateway.attendance", "insights.attendance", "remuneration.attendance"),
    Topics.ATTENDANCE_SHEETS: ("sessions.attendance-sheets",),
    Topics.FRANCE_TRAVAIL: ("remuneration.france-travail",),
}

_HEADERS_SCHEMA = {
    "type": "object",
    "required": ["ce_id", "ce_source", "ce_type", "ce_specversion", "ce_time", "content-type"],
    "properties": {
        "ce_id": {"type": "string", "description": "Event id (UUID); consumers dedupe on it"},
        "ce_source": {"type": "string", "description": "/pacte/<service>"},
        "ce_type": {"type": "string", "description": "fr.paysdelaloire.pacte.<aggregate>.<event>.v<N>"},
        "ce_specversion": {"type": "string", "const": "1.0"},
        "ce_time": {"type": "string", "format": "date-time"},
        "ce_subject": {"type": "string", "description": "Aggregate id, also the Kafka key"},
        "content-type": {"type": "string", "const": "application/json"},
        "traceparent": {"type": "string", "description": "W3C trace context of the originating request"},
        "pacte_replay_group": {
            "type": "string",
            "description": "Only on a dead letter sent back by `pacte bus replay-dlq`: the one consumer group that handles it",
        },
    },
}
_DEAD_LETTER_HEADERS_SCHEMA = {
    "type": "object",
    "required": ["pacte_dlq_error", "pacte_dlq_topic", "pacte_dlq_partition", "pacte_dlq_offset", "pacte_dlq_group", "pacte_dlq_time"],
    "properties": {
        **_HEADERS_SCHEMA["properties"],
        "pacte_dlq_error": {"type": "string", "maxLength": 2000, "description": "Why the consumer gave up (exception and message)"},
        "pacte_dlq_topic": {"type": "string", "description": "The topic the message was read from"},
        "pacte_dlq_partition": {"type": "string", "pattern": "^[0-9]+$", "description": "Its partition there"},
        "pacte_dlq_offset": {"type": "string", "pattern": "^[0-9]+$", "description": "Its offset there"},
        "pacte_dlq_group": {"type": "string", "description": "The consumer group that dead-lettered it"},
        "pacte_dlq_time": {"type": "string", "format": "date-time", "description": "When it was dead-lettered"},
    },
    "description": "The original message's headers (the `ce_*` attributes when it had them) and the reason",
}


def _message_name(event_type: str) -> str:
    return event_type.removeprefix("fr.paysdelaloire.pacte.").replace(".", "_").replace("-", "_")


def event_schema(cls: type[IntegrationEvent]) -> dict[str, Any]:
    return TypeAdapter(cls).json_schema(mode="serialization", ref_template="#/components/schemas/{model}")


def closed(schema: Any) -> Any:
    """Every object schema with declared properties refuses any other (`additionalProperties:
    false`), at every depth, in place. Maps (`additionalProperties` already set) are kept."""
    if isinstance(schema, dict):
        if "properties" in schema and "additionalProperties" not in schema:
            schema["additionalProperties"] = False
        for value in schema.values():
            closed(value)
    elif isinstance(schema, list):
        for value in schema:
            closed(value)
    return schema


def _topic_messages(classes: list[type[IntegrationEvent]], key: str, schemas: dict[str, Any]) -> dict[str, Any]:
    """The messages of one topic by name; their payload schemas (closed) go into `schemas`."""
    messages = {}
    for cls in classes:
        name = _message_name(cls.event_type)
        schema = closed(event_schema(cls))
        for def_name, definition in schema.pop("$defs", {}).items():
            schemas[def_name] = definition
        schemas[name] = schema
        messages[name] = {
            "name": cls.event_type,
            "title": cls.__name__,
            "summary": (cls.__doc__ or cls.__name__).strip().splitlines()[0],
            "contentType": "application/json",
            "headers": _HEADERS_SCHEMA,
            "payload": {"$ref": f"#/components/schemas/{name}"},
            "bindings": {"kafka": {"key": {"type": "string", "description": key}}},
        }
    return messages


def _dead_letter_message(topic: str, key: str, names: list[str]) -> dict[str, Any]:
    return {
        "name": f"{topic}.dead-letter",
        "title": f"Dead letter of {topic}",
        "summary": "A message of the topic that a consumer could not handle, as it was, with the reason",
        "description": "Value and key are the original message's, byte for byte; the headers are the original "
        "ones followed by the `pacte_dlq_*` headers. The value is normally one of the topic's payloads; a "
        "message dead-lettered as undecodable (not JSON, unknown type) keeps the bytes that could not be "
        "read. `pacte bus replay-dlq <dead-letter topic>` sends them back to the topic once fixed.",
        "contentType": "application/json",
        "headers": _DEAD_LETTER_HEADERS_SCHEMA,
        "payload": {"anyOf": [{"$ref": f"#/components/schemas/{name}"} for name in names]},
        "bindings": {"kafka": {"key": {"type": "string", "description": f"the original key: {key}"}}},
    }


def _select_topics(services: set[str] | None) -> tuple[set[str], dict[str, list[str]]]:
    """The topics published by `services`, and per topic the dead-letter consumers they run."""
    published = {t for t, (owner, _) in TOPIC_OWNERS.items() if services is None or owner in services}
    dead_letters = {
        topic: [c for c in consumers if services is None or c.split(".", 1)[0] in services]
        for topic, consumers in DEAD_LETTER_CONSUMERS.items()
    }
    return published, {t: c for t, c in dead_letters.items() if c}


def build_asyncapi(services: set[str] | None = None, version: str = "0.1.0") -> dict[str, Any]:
    """The AsyncAPI document for the topics the given services publish and the dead-letter
    topics their consumers write (all when None)."""
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    by_topic: dict[str, list[type[IntegrationEvent]]] = {}
    for _event_type, cls in sorted(registered_events().items()):
        if cls.topic in TOPIC_OWNERS:
            by_topic.setdefault(cls.topic, []).append(cls)
    published, dead_letters = _select_topics(services)
    for topic, classes in by_topic.items():
        if topic not in published and topic not in dead_letters:
            continue
        owner, key = TOPIC_OWNERS[topic]
        channel_id = topic.replace(".", "_")
        topic_messages = _topic_messages(classes, key, schemas)
        if topic in published:
            messages.update(topic_messages)
            channel_messages = {m: {"$ref": f"#/components/messages/{m}"} for m in topic_messages}
            channels[channel_id] = {
                "address": topic,
                "description": f"Published by {owner}; key: {key} (per-key order). Dead letters: <topic>.dlq.<consumer>.",
                "messages": channel_messages,
            }
            operations[f"publish_{channel_id}"] = {
                "action": "send",
                "channel": {"$ref": f"#/channels/{channel_id}"},
                "summary": f"{owner} publishes on {topic}",
                "messages": [{"$ref": f"#/channels/{channel_id}/messages/{m}"} for m in channel_messages],
            }
        if topic in dead_letters:
            dead_letter = f"{channel_id}_dead_letter"
            messages[dead_letter] = _dead_letter_message(topic, key, list(topic_messages))
            for consumer in dead_letters[topic]:
                address = dead_letter_topic(topic, consumer)
                dlq_id = address.replace(".", "_").replace("-", "_")
                channels[dlq_id] = {
                    "address": address,
                    "description": f"Dead letters of {topic} for the consumer {consumer}: what it could not "
                    "handle (undecodable, invalid, permanently refused), never a transient failure.",
                    "messages": {dead_letter: {"$ref": f"#/components/messages/{dead_letter}"}},
                }
                operations[f"dead_letter_{dlq_id}"] = {
                    "action": "send",
                    "channel": {"$ref": f"#/channels/{dlq_id}"},
                    "summary": f"{consumer.split('.', 1)[0]} dead-letters what its consumer {consumer} cannot handle",
                    "messages": [{"$ref": f"#/channels/{dlq_id}/messages/{dead_letter}"}],
                }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Pacte event catalogue",
            "version": version,
            "description": "CloudEvents 1.0 in Kafka binary mode: attributes as ce_* headers, JSON body. "
            "Delivery is at least once; consumers dedupe by ce_id. Payload schemas are closed "
            "(`additionalProperties: false`): a producer sends nothing else. Consumers read tolerantly "
            "(unknown fields ignored), so a newer producer's additive version does not break them "
            "(docs/events.md).",
        },
        "defaultContentType": "application/json",
        "servers": {
            "embedded": {"host": "127.0.0.1:9092", "protocol": "kafka", "description": "Tansu (pacte up)"},
            "production": {"host": "kafka:9092", "protocol": "kafka", "description": "Apache Kafka (docker-compose.yml)"},
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


def payload_schema(document: dict[str, Any], event_type: str) -> dict[str, Any]:
    """The payload schema of one event type, self-contained for a JSON Schema validator."""
    name = _message_name(event_type)
    schemas = document["components"]["schemas"]
    return {**schemas[name], "components": {"schemas": schemas}}
