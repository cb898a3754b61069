"""docker-compose.yml cannot run here (no Docker engine): check it against the services' settings."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator
from pacte_common.asyncapi import TOPIC_OWNERS, build_asyncapi
from pacte_common.events import Topics, registered_events
from pacte_tools.suite import SERVICES, SuiteSettings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SETTINGS_CLASSES = {
    "orientation": "orientation.settings:OrientationSettings",
    "sessions": "sessions.settings:SessionsSettings",
    "remuneration": "remuneration.settings:RemunerationSettings",
    "agora-gateway": "agora_gateway.settings:AgoraGatewaySettings",
    "agora-sandbox": "agora_sandbox.settings:AgoraSandboxSettings",
    "france-travail-sandbox": "france_travail_sandbox.settings:FranceTravailSandboxSettings",
    "console": "console.settings:ConsoleSettings",
    "attendance": "attendance.settings:AttendanceSettings",
    "insights": "insights.settings:InsightsSettings",
}


def settings_class(service: str):
    module, name = SETTINGS_CLASSES[service].split(":")
    return getattr(importlib.import_module(module), name)


def field_exists(model, path: list[str]) -> bool:
    fields = model.model_fields
    if path[0] not in fields:
        return False
    if len(path) == 1:
        return True
    annotation = fields[path[0]].annotation
    return hasattr(annotation, "model_fields") and field_exists(annotation, path[1:])


@pytest.mark.parametrize("spec", SERVICES, ids=lambda s: s.name)
def test_every_service_is_in_compose_with_known_settings_and_consistent_ports(spec):
    service = COMPOSE["services"][spec.name]
    command = service["command"]
    assert spec.factory in command, "compose runs the same app factory as `pacte up`"
    container_port = command[command.index("--port") + 1]
    environment = service["environment"]
    settings = settings_class(spec.name)
    prefix = settings.model_config["env_prefix"]
    assert prefix == spec.env_prefix
    for name in environment:
        if name.startswith(prefix):
            path = name[len(prefix):].lower().split("__")
            assert field_exists(settings, path), f"{name} is not a setting of {settings.__name__}"
    published = {mapping.split(":")[1] for mapping in service["ports"]}
    assert published == {container_port}
    host_port = int(service["ports"][0].split(":")[0])
    assert host_port == getattr(SuiteSettings(), spec.port_setting), "same ports as the dev stack"
    if spec.has_database:
        assert environment[f"{prefix}DATABASE_URL"].startswith("postgresql+asyncpg://")
        assert environment[f"{prefix}BUS__BOOTSTRAP_SERVERS"] == "kafka:9092"
        for secret in ("JWT_ISSUER", "JWT_JWKS_URL", "ENCRYPTION_KEYS", "LOOKUP_HASH_KEY"):
            assert f"{prefix}{secret}" in environment, f"{spec.name} must not run on the dev {secret}"
            assert ":?" in environment[f"{prefix}{secret}"], f"{spec.name}: {secret} is required, with no default"
        assert environment[f"{prefix}ENVIRONMENT"] == "production", "development keys refused"


def test_compose_databases_and_topics_match_the_services():
    init_sql = (ROOT / "deploy" / "postgres-init.sql").read_text()
    for spec in SERVICES:
        if spec.has_database:
            url = COMPOSE["services"][spec.name]["environment"][f"{spec.env_prefix}DATABASE_URL"]
            assert f"CREATE DATABASE {url.rsplit('/', 1)[1]};" in init_sql
    script = COMPOSE["services"]["kafka-init"]["command"][0]
    created = set(re.search(r"for topic in ([^;]+);", script).group(1).split())
    assert created == set(Topics.ALL)
    partitions = re.search(r"--partitions (\d+)", script).group(1)
    for spec in SERVICES:
        env = COMPOSE["services"][spec.name]["environment"]
        if spec.has_database:
            assert env[f"{spec.env_prefix}BUS__TOPIC_PARTITIONS"] == partitions
    assert COMPOSE["services"]["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller", "KRaft mode"
    assert COMPOSE["services"]["kafka"]["environment"]["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"


def test_asyncapi_covers_every_registered_event_with_a_valid_schema():
    document = build_asyncapi()
    names = {message["name"] for message in document["components"]["messages"].values()}
    business = {t for t, cls in registered_events().items() if cls.topic in TOPIC_OWNERS}
    assert business <= names
    addresses = {channel["address"] for channel in document["channels"].values()}
    assert {a for a in addresses if ".dlq." not in a} == set(Topics.ALL)
    for schema in document["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)


def test_published_catalogue_in_docs_is_up_to_date():
    """docs/asyncapi.json is what operators read: regenerate it with `./pacte asyncapi > docs/asyncapi.json`."""
    import json

    assert json.loads((ROOT / "docs" / "asyncapi.json").read_text()) == build_asyncapi()
