"""A partner generates a Python client from our OpenAPI documents and uses it (docs/openapi.md).

Each service's document (and the AGORA sandbox's) is given to `openapi-python-client`, once per
test session, and the generated package drives a short journey against the live app, in
process (its lifespan run, its database migrated; no broker: background tasks off). The
client's functions are named after the operation ids, which are the route functions' names
(docs/conventions.md §2.1): `create_prescription`, not `create_prescription_prescriptions_post`.
Every operation of a document is in its client, but the few whose body the generator cannot
carry (`OMITTED`), and no two schemas of one document share a name (the generator would drop
one of them).
"""

from __future__ import annotations

import importlib
import json
import re
import shutil
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from pacte_common.auth import OrgKind
from pacte_common.settings import ServiceSettings
from pacte_testing import new_nir, new_siret
from pacte_testing.agora import export_line, ndjson
from pacte_tools.dev_issuer import mint_token

SERVICES = ("orientation", "sessions", "remuneration", "agora-gateway", "agora-sandbox", "insights")
# Operations a generated client cannot carry, with why (the generator skips them, with a warning).
OMITTED = {"sessions": {"import_lheo": "an XML body (application/xml), which the generator does not support"}}
# The FastAPI shape of a schema name made unique by its module: two models share a name.
QUALIFIED = "__"


def _settings_and_app(service: str, folder: Path) -> tuple[ServiceSettings | None, FastAPI]:
    """The service's app on a database of its own in `folder`, without background tasks."""
    database = f"sqlite+aiosqlite:///{folder / (service + '.db')}"
    common = {"database_url": database, "run_background_tasks": False, "log_json": False}
    if service == "orientation":
        from orientation.main import create_app
        from orientation.settings import OrientationSettings

        settings = OrientationSettings(**common)
    elif service == "sessions":
        from sessions.main import create_app
        from sessions.settings import SessionsSettings

        settings = SessionsSettings(**common, consume_prescriptions=False)
    elif service == "remuneration":
        from remuneration.main import create_app
        from remuneration.settings import RemunerationSettings

        settings = RemunerationSettings(**common)
    elif service == "insights":
        from insights.main import create_app
        from insights.settings import InsightsSettings

        settings = InsightsSettings(**common, consume=False)
    elif service == "agora-gateway":
        from agora_gateway.main import create_app
        from agora_gateway.settings import AgoraGatewaySettings

        settings = AgoraGatewaySettings(**common, data_dir=str(folder))
    else:
        from agora_sandbox.main import create_app

        return None, create_app()
    return settings, create_app(settings)


def _package(service: str) -> str:
    return service.replace("-", "_") + "_client"


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Iterator[dict[str, tuple[FastAPI, ServiceSettings | None, dict]]]:
    """Every document written out and its client generated (in parallel), importable by name."""
    folder = tmp_path_factory.mktemp("clients")
    config = folder / "config.json"
    config.write_text(json.dumps({"post_hooks": []}))  # no formatter run: the code is only imported
    generator = shutil.which("openapi-python-client", path=str(Path(sys.executable).parent))
    assert generator, "openapi-python-client is a dev dependency of the workspace"
    apps, running = {}, []
    for service in SERVICES:
        settings, app = _settings_and_app(service, folder)
        document = app.openapi()
        (folder / f"{service}.json").write_text(json.dumps(document))
        apps[service] = (app, settings, document)
        command = [generator, "generate", "--path", str(folder / f"{service}.json"), "--meta", "none",
                   "--output-path", str(folder / _package(service)), "--config", str(config)]
        running.append((service, subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)))
    for service, process in running:
        output, _ = process.communicate(timeout=120)
        assert process.returncode == 0, f"{service}: {output}"
    sys.path.insert(0, str(folder))
    yield apps
    sys.path.remove(str(folder))
    for service in SERVICES:
        for name in [name for name in sys.modules if name.split(".")[0] == _package(service)]:
            del sys.modules[name]


def _api(service: str, tag: str, operation: str) -> ModuleType:
    return importlib.import_module(f"{_package(service)}.api.{tag}.{operation}")


def _models(service: str) -> ModuleType:
    return importlib.import_module(f"{_package(service)}.models")


@asynccontextmanager
async def _client(app: FastAPI, service: str, token: str) -> AsyncIterator[Any]:
    """The generated client, authenticated, talking to the live app in process."""
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=30) as manager:
        client_module = importlib.import_module(f"{_package(service)}.client")
        transport = httpx.ASGITransport(app=manager.app)
        async with client_module.AuthenticatedClient(
            base_url="http://testserver", token=token, httpx_args={"transport": transport}, raise_on_unexpected_status=True
        ) as client:
            yield client


def _operations(document: dict) -> list[tuple[str, str]]:
    """(tag, operation id) of every operation of a document."""
    return [
        (operation["tags"][0] if operation.get("tags") else "default", operation["operationId"])
        for path in document["paths"].values()
        for method, operation in path.items()
        if method in ("get", "put", "post", "patch", "delete")
    ]


# ---------------------------------------------------------------- every document


@pytest.mark.parametrize("service", SERVICES)
def test_operation_ids_are_the_route_names_and_unique(generated, service):
    _, _, document = generated[service]
    ids = [operation_id for _, operation_id in _operations(document)]
    assert [name for name, count in Counter(ids).items() if count > 1] == []
    # FastAPI's default id repeats the path and the method: `create_prescription_prescriptions_post`
    suffixed = [name for name in ids if re.search(r"_(get|put|post|patch|delete)$", name)]
    assert suffixed == [], f"operation ids that are not names: {suffixed}"


@pytest.mark.parametrize("service", SERVICES)
def test_no_two_schemas_share_a_name(generated, service):
    _, _, document = generated[service]
    qualified = [name for name in document.get("components", {}).get("schemas", {}) if QUALIFIED in name]
    assert qualified == [], f"two models share these names (rename one): {qualified}"


@pytest.mark.parametrize("service", SERVICES)
def test_every_operation_is_in_the_generated_client(generated, service):
    _, _, document = generated[service]
    missing = set()
    for tag, operation_id in _operations(document):
        try:
            _api(service, re.sub(r"[^a-z0-9]+", "_", tag.lower()), operation_id)
        except ModuleNotFoundError:
            missing.add(operation_id)
    assert missing == set(OMITTED.get(service, {}))


# ---------------------------------------------------------------- a short journey with each client


async def test_orientation_prescribe_list_read(generated):
    from orientation.app import catalogue
    from pacte_common.contracts.sessions import (
        Pillar,
        ProgrammeInfo,
        RecruitmentState,
        SessionPublished,
        SessionSnapshot,
    )

    app, settings, _ = generated["orientation"]
    siret = new_siret()
    session = SessionSnapshot(
        session_id=uuid.uuid4(), action_id=uuid.uuid4(), organisation_siret=siret, action_title="Maçon",
        programme=ProgrammeInfo(code="VISA-METIERS", name="VISA Métiers", pillar=Pillar.VISA, remuneration_approved=True),
        hours_in_centre=Decimal("400"), hourly_price=Decimal("12.50"), departement="44", places=12,
        start_date=date.today() + timedelta(days=30), end_date=date.today() + timedelta(days=200),
        recruitment_state=RecruitmentState.OPEN,
    )
    models = _models("orientation")
    async with _client(app, "orientation", mint_token(settings, OrgKind.PRESCRIBER, "PE-44001")) as client:
        async with app.state.runtime.db_factory() as db:  # the catalogue event sessions would publish
            await catalogue.on_catalogue_event(db, session, event_type=SessionPublished.event_type,
                                               closed=False, cancelled=False)
            await db.commit()
        body = models.PrescriptionCreate.from_dict({
            "session_id": str(session.session_id),
            "identity": {"birth_name": "Martin", "first_names": "Camille", "nir": new_nir()},
            "profile": {"sex": "F", "birth_date": "1990-04-12", "education_level": "v", "jobseeker_category": "A",
                        "jobseeker_registration_date": "2024-09-01"},
            "professional_project": "Maçonnerie",
        })
        created = await _api("orientation", "prescriptions", "create_prescription").asyncio(client=client, body=body)
        assert isinstance(created, models.PrescriptionOut), created
        page = await _api("orientation", "prescriptions", "list_prescriptions").asyncio(client=client)
        assert [item.id for item in page.items] == [created.id]
        read = await _api("orientation", "prescriptions", "get_prescription").asyncio(client=client, prescription_id=created.id)
        assert (read.id, str(read.status)) == (created.id, "submitted")


async def test_sessions_programme_action_session_list_read(generated):
    app, settings, _ = generated["sessions"]
    models = _models("sessions")
    call: Callable[[str, str], ModuleType] = lambda tag, operation: _api("sessions", tag, operation)  # noqa: E731
    async with _client(app, "sessions", mint_token(settings, OrgKind.REGION, "region")) as client:
        programme = await call("catalogue", "create_programme").asyncio(client=client, body=models.ProgrammeIn.from_dict({
            "code": "VISA-METIERS", "name": "VISA Métiers", "pillar": "visa", "funder": "region",
            "remuneration_approved": True, "tension_sector": False, "agora_category": "standard",
            "delegated_to_france_travail": False,
        }))
        assert programme.code == "VISA-METIERS", programme
        action = await call("catalogue", "create_action").asyncio(client=client, body=models.ActionIn.from_dict({
            "programme_code": "VISA-METIERS", "organisation_siret": new_siret(), "title": "Maçon", "certifying": False,
            "hours_in_centre": "400", "hours_in_company": "0", "weekly_hours": "35", "hourly_price": "12.50",
            "departement": "44",
        }))
        assert action.title == "Maçon", action
        session = await call("catalogue", "create_session").asyncio(client=client, body=models.SessionIn.from_dict({
            "action_id": str(action.id), "start_date": "2027-01-04", "end_date": "2027-06-25", "places": 12,
        }))
        assert session.places == 12, session
        page = await call("catalogue", "list_sessions").asyncio(client=client)
        assert [item.id for item in page.items] == [session.id]
        read = await call("catalogue", "get_session").asyncio(client=client, session_id=session.id)
        assert read.id == session.id


async def test_insights_public_search_and_indicators(generated):
    """A portal's client of the public search (no token needed; the generated client sends one)
    and the Region's indicators, on an empty read side."""
    app, settings, _ = generated["insights"]
    async with _client(app, "insights", mint_token(settings, OrgKind.REGION, "region")) as client:
        page = await _api("insights", "public", "search_public_sessions").asyncio(client=client, q="plaquistes", near="47.2184,-1.5536",
                                                                                   radius_km=30.0, places_left=True)
        assert page.items == [] and page.next_cursor is None, page
        missing = await _api("insights", "public", "get_public_training").asyncio_detailed(client=client, training_id=uuid.uuid4())
        assert missing.status_code == 404


async def test_remuneration_run_read_statements(generated):
    app, settings, _ = generated["remuneration"]
    models = _models("remuneration")
    async with _client(app, "remuneration", mint_token(settings, OrgKind.REGION, "region")) as client:
        run = await _api("remuneration", "runs", "create_run").asyncio(client=client, body=models.RunIn(month="2026-01"))
        assert run.month == "2026-01", run
        read = await _api("remuneration", "runs", "get_run").asyncio(client=client, month="2026-01")
        assert (read.month, read.state) == (run.month, run.state)
        statements = await _api("remuneration", "runs", "list_statements").asyncio(client=client, month="2026-01")
        assert statements.items == []


async def test_agora_gateway_backfill_start_read_list(generated):
    app, settings, _ = generated["agora-gateway"]
    models = _models("agora-gateway")
    types = importlib.import_module(f"{_package('agora-gateway')}.types")
    export = ndjson([export_line(), export_line()]).encode()
    async with _client(app, "agora-gateway", mint_token(settings, OrgKind.REGION, "region")) as client:
        body = models.BodyStartBackfill(file=types.File(payload=export, file_name="export.ndjson", mime_type="application/x-ndjson"))
        started = await _api("agora-gateway", "agora", "start_backfill").asyncio(client=client, body=body)
        assert isinstance(started, models.BackfillJobView), started
        read = await _api("agora-gateway", "agora", "get_backfill").asyncio(client=client, job_id=started.job_id)
        assert (read.job_id, read.filename) == (started.job_id, "export.ndjson")
        jobs = await _api("agora-gateway", "agora", "list_backfills").asyncio(client=client)
        assert [job.job_id for job in jobs] == [started.job_id]


async def test_agora_sandbox_bulk_search_read(generated):
    from agora_sandbox.settings import AgoraSandboxSettings

    app, _, _ = generated["agora-sandbox"]
    models = _models("agora-sandbox")
    reference = str(uuid.uuid4())
    record = {
        "funder_ref": reference, "organisation_siret": new_siret(), "programme_code": "VISA-METIERS",
        "session_start_date": "2026-01-05", "session_end_date": "2026-06-26", "state": "in_training",
        "entry_date": "2026-01-05",
        "identity": {"birth_name": "DURAND", "birth_date": "1985-07-14", "sex": "M", "nir": new_nir()[:13]},
    }
    call: Callable[[str], ModuleType] = lambda operation: _api("agora-sandbox", "default", operation)  # noqa: E731
    async with _client(app, "agora-sandbox", AgoraSandboxSettings().token.get_secret_value()) as client:
        loaded = await call("bulk_load_files").asyncio_detailed(
            client=client, body=models.BulkRequest.from_dict({"files": [record]}), idempotency_key=f"bulk-{reference}")
        assert loaded.status_code == 200, loaded.content
        [result] = json.loads(loaded.content)["results"]
        found = await call("search_files").asyncio(client=client, body=models.SearchRequest(funder_ref=reference))
        assert [file["agora_file_id"] for file in found.to_dict()["files"]] == [result["agora_file_id"]]
        read = await call("get_agora_file").asyncio_detailed(client=client, agora_file_id=result["agora_file_id"])
        assert read.status_code == 200, read.content
