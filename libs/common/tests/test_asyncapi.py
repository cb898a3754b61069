"""The AsyncAPI catalogue catches leaks (docs/events.md): closed payload schemas, dead-letter
channels that describe what the consumer really writes there, and consumers that still
read a newer producer's event (tolerant reader)."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, date, datetime

import pytest
from jsonschema import Draft202012Validator, ValidationError
from pacte_common.asyncapi import DEAD_LETTER_CONSUMERS, build_asyncapi, payload_schema
from pacte_common.bus import ensure_topics, new_consumer, new_producer, topic_name
from pacte_common.consumer import ConsumerRunner, Subscription
from pacte_common.contracts.orientation import PrescriptionAdmitted
from pacte_common.contracts.people import PersonProfile
from pacte_common.contracts.sessions import SessionPublished
from pacte_common.db import create_engine, new_metadata, session_factory
from pacte_common.events import Envelope, Topics, dead_letter_topic, decode
from pacte_common.messaging import MessagingTables

ADMITTED = PrescriptionAdmitted.event_type


def admitted() -> PrescriptionAdmitted:
    return PrescriptionAdmitted(
        prescription_id=uuid.uuid4(), session_id=uuid.uuid4(), person_id=uuid.uuid4(),
        prescriber_kind="france_travail", prescriber_code="PE-44001", organisation_siret="73282932000074",
        status="admitted", occurred_at=datetime(2026, 3, 2, 9, tzinfo=UTC), actor="org:73282932000074",
        profile=PersonProfile(sex="F", birth_date=date(1995, 3, 10)), has_nir=True,
    )


def validator(event_type: str) -> Draft202012Validator:
    return Draft202012Validator(payload_schema(build_asyncapi(), event_type))


def test_a_produced_event_validates_and_an_extra_field_does_not():
    body = json.loads(admitted().model_dump_json())
    validator(ADMITTED).validate(body)
    with pytest.raises(ValidationError, match="nir"):
        validator(ADMITTED).validate({**body, "nir": "295034412345678"})
    with pytest.raises(ValidationError, match="nir"):  # nested objects are closed too
        validator(ADMITTED).validate({**body, "profile": {**body["profile"], "nir": "295034412345678"}})


def test_every_object_schema_with_properties_is_closed():
    open_objects = []

    def walk(schema, path):
        if isinstance(schema, dict):
            if "properties" in schema and schema.get("additionalProperties") is not False:
                open_objects.append(path)
            for name, value in schema.items():
                walk(value, f"{path}/{name}")
        elif isinstance(schema, list):
            for index, value in enumerate(schema):
                walk(value, f"{path}/{index}")

    walk(build_asyncapi()["components"]["schemas"], "#/components/schemas")
    assert not open_objects


def test_a_consumer_still_reads_a_newer_producers_event_with_a_field_it_does_not_know():
    """Closed in the catalogue, tolerant in the consumer: an additive v1 change breaks no reader."""
    event = admitted()
    envelope = Envelope.wrap(event, source="/pacte/orientation", subject=str(event.prescription_id))
    newer = json.dumps({**json.loads(envelope.body()), "added_in_a_later_release": 1}).encode()
    assert decode(envelope.headers(), newer).data == event


def test_every_consumed_topic_has_its_dead_letter_channels():
    document = build_asyncapi()
    addresses = {channel["address"] for channel in document["channels"].values()}
    for topic, consumers in DEAD_LETTER_CONSUMERS.items():
        for consumer in consumers:
            assert dead_letter_topic(topic, consumer) in addresses
    # each service's own document: the topics it publishes and the dead letters its consumers write
    orientation = {c["address"] for c in build_asyncapi({"orientation"})["channels"].values()}
    assert orientation == {
        Topics.PRESCRIPTIONS,
        dead_letter_topic(Topics.CATALOGUE, "orientation.catalogue"),
        dead_letter_topic(Topics.TRAINEES, "orientation.trainees"),
    }


async def test_a_dead_letter_matches_its_channel_in_the_catalogue(database_url, bus_settings):
    """A real consumer dead-letters a schema-invalid catalogue event: the message on the
    dead-letter topic is the catalogue's (original value and headers + the pacte_dlq_* headers)."""
    metadata = new_metadata()
    tables = MessagingTables(metadata)
    engine = create_engine(database_url)
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    topic = topic_name(bus_settings, Topics.CATALOGUE)
    await ensure_topics(bus_settings, [topic], partitions=1)
    headers = Envelope(type=SessionPublished.event_type, source="/pacte/sessions", subject="s-1", data=admitted()).headers()
    value = b'{"session": "not a session"}'
    producer = new_producer(bus_settings)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value=value, key=b"s-1", headers=headers)
    finally:
        await producer.stop()

    async def never_called(*_):
        raise AssertionError("a schema-invalid event is not handled")

    runner = ConsumerRunner(
        Subscription(name="catalogue", handlers={SessionPublished: never_called}),
        service="orientation", bus=bus_settings, factory=session_factory(engine), tables=tables,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    try:
        await asyncio.wait_for(runner.assigned.wait(), 30)  # its dead-letter topics exist from then on
        message = await _first_message(bus_settings, runner.dlq_topic(topic))
    finally:
        stop.set()
        await task
        await engine.dispose()

    document = build_asyncapi()
    channel = next(
        c for c in document["channels"].values()
        if bus_settings.topic_namespace + c["address"] == runner.dlq_topic(topic)
    )
    (reference,) = channel["messages"].values()
    catalogued = document["components"]["messages"][reference["$ref"].rsplit("/", 1)[-1]]
    received = {name: raw.decode() for name, raw in message.headers}
    Draft202012Validator(catalogued["headers"]).validate(received)
    assert message.value == value and message.key == b"s-1"
    assert received["pacte_dlq_topic"] == topic and "session" in received["pacte_dlq_error"]
    assert {name: raw for name, raw in message.headers if not name.startswith("pacte_dlq_")} == dict(headers)


async def _first_message(bus_settings, topic: str, timeout_s: float = 30):
    consumer = new_consumer(bus_settings, topic, group_id=None)
    await consumer.start()
    try:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while asyncio.get_running_loop().time() < deadline:
            for messages in (await consumer.getmany(timeout_ms=500)).values():
                if messages:
                    return messages[0]
    finally:
        await consumer.stop()
    raise AssertionError(f"nothing on {topic} after {timeout_s}s")
