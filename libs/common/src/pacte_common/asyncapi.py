"""The event catalogue as an AsyncAPI 3.0 document, generated from the registered event models.

Every topic is a channel (its Kafka key named in the description), every CloudEvents type
a message with its JSON Schema payload and the `ce_*` headers; each service serves the part
it publishes at `/asyncapi.json`, and `pacte asyncapi` prints the whole catalogue.
"""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from pacte_common import contracts  # noqa: F401  (registers every event type)
from pacte_common.events import IntegrationEvent, Topics, registered_events

TOPIC_OWNERS: dict[str, tuple[str, str]] = {
    Topics.PRESCRIPTIONS: ("orientation", "prescription id"),
    Topics.CATALOGUE: ("sessions", "session id"),
    Topics.TRAINEES: ("sessions", "training file (dossier) id"),
    Topics.ATTENDANCE: ("sessions", "training file (dossier) id"),
    Topics.PAYMENTS: ("remuneration", "training file (dossier) id"),
    Topics.AGORA_FLOWS: ("agora-gateway", "training file (dossier) id"),
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
    },
}


def _message_name(event_type: str) -> str:
    return event_type.removeprefix("fr.paysdelaloire.pacte.").replace(".", "_").replace("-", "_")


def event_schema(cls: type[IntegrationEvent]) -> dict[str, Any]:
    return TypeAdapter(cls).json_schema(mode="serialization", ref_template="#/components/schemas/{model}")


def build_asyncapi(services: set[str] | None = None, version: str = "0.1.0") -> dict[str, Any]:
    """The AsyncAPI document for the topics the given services publish (all when None)."""
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    by_topic: dict[str, list[type[IntegrationEvent]]] = {}
    for _event_type, cls in sorted(registered_events().items()):
        if cls.topic in TOPIC_OWNERS:
            by_topic.setdefault(cls.topic, []).append(cls)
    for topic, classes in by_topic.items():
        owner, key = TOPIC_OWNERS[topic]
        if services is not None and owner not in services:
            continue
        channel_id = topic.replace(".", "_")
        channel_messages = {}
        for cls in classes:
            name = _message_name(cls.event_type)
            schema = event_schema(cls)
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
            channel_messages[name] = {"$ref": f"#/components/messages/{name}"}
        channels[channel_id] = {
            "address": topic,
            "description": f"Published by {owner}; key: {key} (per-key order). Dead letters: <topic>.dlq.<consumer group>.",
            "messages": channel_messages,
        }
        operations[f"publish_{channel_id}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "summary": f"{owner} publishes on {topic}",
            "messages": [{"$ref": f"#/channels/{channel_id}/messages/{m}"} for m in channel_messages],
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Pacte event catalogue",
            "version": version,
            "description": "CloudEvents 1.0 in Kafka binary mode: attributes as ce_* headers, JSON body. "
            "Delivery is at least once; consumers dedupe by ce_id.",
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
