"""The fault suite: the whole suite, as `pacte up` runs it — supervised — on free
ports, while trainees go from prescription to entry to exit and things break.

One supervised suite for the package (its own ports, data folder and databases, separate from
the journeys' suite). Each test prints its counts. The files are numbered because they share
that suite: the broker restart (which wipes every topic) comes last. Outage lengths are settings
(PACTE_FAULTS_*), short by default so the package stays within a few minutes on two cores.
"""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from dataclasses import dataclass, field

import httpx
import pytest
from agora_sandbox.settings import DEV_SANDBOX_TOKEN
from pacte_common.auth import OrgKind
from pacte_testing import (
    DEFAULT_POSTGRES,
    eventually,
    new_nir,
    new_siret,
    seed_suite_databases,
    selected_database_kind,
)
from pacte_tools.dev_issuer import request_token
from pacte_tools.suite import SERVICES, Suite, SuiteSettings, drop_postgres_databases
from pacte_tools.supervisor import Supervisor, SupervisorSettings
from pydantic_settings import BaseSettings, SettingsConfigDict


class FaultSettings(BaseSettings):
    """How hard the fault tests push (env prefix PACTE_FAULTS_)."""

    model_config = SettingsConfigDict(env_prefix="PACTE_FAULTS_", extra="ignore")

    trainees: int = 10
    # AGORA answers nothing but 503 for this long: a minute, long enough for the gateway's
    # backoff to reach its cap and for /health/status to say so.
    agora_outage_s: float = 60.0
    # France Travail answers nothing but 503 for this long (a real outage runs a minute or more;
    # short by default: the engine's requeue is the same as AGORA's, whose minute-long outage is
    # tested; set PACTE_FAULTS_FRANCE_TRAVAIL_OUTAGE_S=60 to run it at full length).
    france_travail_outage_s: float = 10.0
    # The broker stays dead this long before the supervisor may restart it.
    broker_outage_s: float = 3.0
    # Every trainee must reach orientation, remuneration and AGORA within this long.
    deadline_s: float = 180.0


# Quicker loops than production defaults (as in the journeys), and AGORA retried soon after an
# outage: the requeue delay caps at a few seconds instead of minutes.
FAST = {
    "BUS__RELAY_POLL_INTERVAL_S": "0.05",
    "BUS__CONSUMER_RETRY_BACKOFF_S": "0.05",
    "BUS__RELAY_MAX_BACKOFF_S": "1",
    "BUS__INCARNATION_CHECK_INTERVAL_S": "1",
}
GATEWAY_FAST = {
    "PACTE_AGORA_GATEWAY_REQUEUE_DELAY_INITIAL_S": "0.5",
    "PACTE_AGORA_GATEWAY_REQUEUE_DELAY_MAX_S": "3",
    "PACTE_AGORA_GATEWAY_SEND_BACKOFF_MAX_S": "0.5",
    "PACTE_AGORA_GATEWAY_DISPATCH_LEASE_S": "10",
}


def fast_env() -> dict[str, str]:
    """Every service's variables for the quicker loops above."""
    return {spec.env_prefix + name: value for spec in SERVICES for name, value in FAST.items()} | GATEWAY_FAST


@pytest.fixture(scope="session")
def fault_settings() -> FaultSettings:
    return FaultSettings()


@dataclass
class Supervised:
    suite: Suite
    supervisor: Supervisor
    settings: FaultSettings

    def child(self, name: str):
        return self.supervisor.children[name]


@pytest.fixture(scope="package")
def supervised(tmp_path_factory, fault_settings):
    settings = SuiteSettings.on_free_ports(tmp_path_factory.mktemp("faults"), topic_partitions=2, ready_timeout_s=240)
    if selected_database_kind() == "postgresql":
        server = os.environ.get("PACTE_TEST_POSTGRES_URL", DEFAULT_POSTGRES).rsplit("/", 1)[0]
        settings.postgres_url = server
        settings.database_name_prefix = f"pacte_faults_{uuid.uuid4().hex[:8]}_"
    suite = Suite(settings, extra_env=fast_env())
    stop = threading.Event()
    thread = None
    try:
        seed_suite_databases(suite)
        suite.start()
        suite.wait_ready()
        supervisor = Supervisor(suite, SupervisorSettings(interval_s=0.2, backoff_initial_s=0.2, readiness_interval_s=0.5))
        thread = threading.Thread(target=supervisor.run, args=(stop,), name="supervisor", daemon=True)
        thread.start()
        yield Supervised(suite, supervisor, fault_settings)
    finally:
        stop.set()
        if thread is not None:
            thread.join(30)
        suite.stop()
        if settings.postgres_url:
            asyncio.run(drop_postgres_databases(settings.postgres_url, [suite.database_url(s) for s in SERVICES if s.has_database]))


# ---------------------------------------------------------------------------------------------
# Trainees driven over HTTP, as partners would, retrying (with the same idempotency key or after
# checking the state) when a service is away: a partner's client does not give up on a 502.






class Unavailable(Exception):
    pass


@dataclass
class Trainee:
    prescription_id: str | None = None
    dossier_id: str | None = None
    france_travail_id: str | None = None  # the person is registered at France Travail: certificates go there
    reached: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)


class Cohort:
    """One training organisation, one session, and trainees pushed through it."""

    RETRYABLE = (502, 503, 504)

    def __init__(self, supervised: Supervised):
        self.suite = supervised.suite
        self.deadline_s = supervised.settings.deadline_s
        self.siret = new_siret()
        self._clients: list[httpx.AsyncClient] = []

    def _client(self, service: str, kind: OrgKind, org: str) -> httpx.AsyncClient:
        token = request_token(self.suite.issuer_settings.issuer_url, kind.value, org, [service])
        client = httpx.AsyncClient(base_url=self.suite.url(service), headers={"Authorization": f"Bearer {token}"}, timeout=20)
        self._clients.append(client)
        return client

    async def __aenter__(self):
        self.region_sessions = self._client("sessions", OrgKind.REGION, "region")
        self.org_sessions = self._client("sessions", OrgKind.TRAINING_ORG, self.siret)
        self.prescriber = self._client("orientation", OrgKind.PRESCRIBER, "PE-44001")
        self.org_orientation = self._client("orientation", OrgKind.TRAINING_ORG, self.siret)
        self.region_pay = self._client("remuneration", OrgKind.REGION, "region")
        self.gateway = self._client("agora-gateway", OrgKind.REGION, "region")
        self.sandbox = httpx.AsyncClient(
            base_url=self.suite.url("agora-sandbox"), headers={"Authorization": f"Bearer {DEV_SANDBOX_TOKEN}"}, timeout=20
        )
        self._clients.append(self.sandbox)
        return self

    async def __aexit__(self, *exc):
        for client in self._clients:
            await client.aclose()

    @staticmethod
    def trainees(count: int) -> list[Trainee]:
        return [Trainee() for _ in range(count)]

    @staticmethod
    def report(name: str, counts: dict, **extra) -> None:
        figures = " ".join(f"{key}={value}" for key, value in {**counts, **extra}.items())
        print(f"\n[faults] {name}: {figures}")

    # ---------------------------------------------------------------- resilient calls
    async def call(self, client: httpx.AsyncClient, method: str, url: str, **kwargs) -> httpx.Response:
        """The answer of a service, waiting while it is away (connection refused, 502-504)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.deadline_s
        while True:
            try:
                response = await client.request(method, url, **kwargs)
                if response.status_code not in self.RETRYABLE:
                    return response
            except httpx.TransportError:
                pass
            if loop.time() > deadline:
                raise Unavailable(f"{method} {client.base_url}{url} unavailable for {self.deadline_s}s")
            await asyncio.sleep(0.3)

    async def ensure(self, client, url: str, body: dict | None, done) -> None:
        """POSTs an action that is not idempotent by key: if an earlier attempt may have
        committed (connection lost), the state says whether to send it again."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.deadline_s
        while True:
            if await done():
                return
            try:
                response = await client.post(url, json=body)
            except httpx.TransportError:
                response = None
            if response is not None and response.status_code in (200, 201):
                return
            if response is not None and response.status_code not in self.RETRYABLE and not await done():
                raise AssertionError(f"POST {url}: {response.status_code} {response.text}")
            if loop.time() > deadline:
                raise Unavailable(f"POST {url} did not go through in {self.deadline_s}s")
            await asyncio.sleep(0.3)

    # ---------------------------------------------------------------- the path
    async def open_session(self, places: int = 200) -> str:
        code = f"VISA-{uuid.uuid4().hex[:8]}"
        for url, body in (
            ("/programmes", {"code": code, "name": f"VISA Métiers {code}", "pillar": "visa", "remuneration_approved": True,
                             "tension_sector": False, "agora_category": "standard"}),
        ):
            response = await self.call(self.region_sessions, "POST", url, json=body)
            assert response.status_code == 201, response.text
        action = await self.call(self.region_sessions, "POST", "/actions", json={
            "programme_code": code, "organisation_siret": self.siret, "title": "Agent de propreté et d'hygiène",
            "hours_in_centre": "420", "hours_in_company": "70", "hourly_price": "12.50", "departement": "44",
            "weekly_hours": "35", "certifying": True, "rncp_code": "RNCP34691", "skill_blocks": ["BC01"],
        })
        assert action.status_code == 201, action.text
        session = await self.call(self.region_sessions, "POST", "/sessions", json={
            "action_id": action.json()["id"], "start_date": "2026-09-01", "end_date": "2026-12-18", "places": places,
        })
        assert session.status_code == 201, session.text
        session_id = session.json()["session_id"]

        async def visible():
            response = await self.call(self.prescriber, "GET", f"/sessions/{session_id}")
            return response.status_code == 200 and response.json()["open_for_prescription"]

        await eventually(visible, self.deadline_s, interval=0.2, message="session visible in orientation")
        return session_id

    async def prescribe_and_admit(self, session_id: str, trainee: Trainee) -> None:
        key = str(uuid.uuid4())  # the same key on every retry: one prescription whatever happens
        response = await self.call(self.prescriber, "POST", "/prescriptions", headers={"Idempotency-Key": key}, json={
            "session_id": session_id,
            "identity": {"birth_name": "Durand", "first_names": "Léa", "nir": new_nir(),
                         **({"france_travail_id": trainee.france_travail_id} if trainee.france_travail_id else {})},
            "profile": {"sex": "F", "birth_date": "1995-03-10", "education_level": "v", "jobseeker_category": "A",
                        "jobseeker_registration_date": "2024-01-15"},
            "professional_project": "Agent de propreté",
        })
        assert response.status_code == 201, response.text
        trainee.prescription_id = pid = response.json()["id"]
        await self.ensure(self.org_orientation, f"/prescriptions/{pid}/positioning",
                          {"date": "2026-09-01", "kind": "information_meeting"}, lambda: self._positioned(pid))
        await self.ensure(self.org_orientation, f"/prescriptions/{pid}/admit", None, lambda: self._status_in(pid, {"admitted", "entered"}))

    async def enter_and_exit(self, trainee: Trainee) -> None:
        async def dossier():
            response = await self.call(self.org_sessions, "GET", "/dossiers", params={"prescription_id": trainee.prescription_id})
            items = response.json()["items"] if response.status_code == 200 else []
            return items[0] if items else None

        trainee.dossier_id = did = (await eventually(dossier, self.deadline_s, interval=0.2, message="training file opened"))["id"]
        await self.ensure(self.org_sessions, f"/dossiers/{did}/entry", {"entry_date": "2026-09-01"},
                          lambda: self._dossier_in(did, {"in_training", "exited"}))
        await self.ensure(self.org_sessions, f"/dossiers/{did}/exit",
                          {"exit_date": "2026-11-30", "kind": "completed", "certification_result": "obtained"},
                          lambda: self._dossier_in(did, {"exited"}))

    async def journey(self, session_id: str, trainee: Trainee) -> None:
        try:
            await self.prescribe_and_admit(session_id, trainee)
            await self.enter_and_exit(trainee)
        except Exception as exc:  # counted as lost below, with the reason
            trainee.problems.append(f"journey: {type(exc).__name__}: {exc}")

    async def _positioned(self, pid: str) -> bool:
        body = (await self.call(self.prescriber, "GET", f"/prescriptions/{pid}")).json()
        return body.get("positioning") is not None or body.get("status") not in ("submitted", None)

    async def _status_in(self, pid: str, statuses: set[str]) -> bool:
        return (await self.call(self.prescriber, "GET", f"/prescriptions/{pid}")).json().get("status") in statuses

    async def _dossier_in(self, did: str, statuses: set[str]) -> bool:
        response = await self.call(self.org_sessions, "GET", f"/dossiers/{did}")
        return response.status_code == 200 and response.json()["status"] in statuses

    # ---------------------------------------------------------------- where everyone ended
    async def settle(self, trainees: list[Trainee]) -> dict[str, int]:
        """Waits for every trainee to reach orientation (entered), remuneration (file closed)
        and AGORA (settled, every flow acknowledged once, in order); returns the counts."""
        await asyncio.gather(*(self._settle_one(t) for t in trainees))
        counts = {
            "trainees": len(trainees),
            "orientation": sum("orientation" in t.reached for t in trainees),
            "remuneration": sum("remuneration" in t.reached for t in trainees),
            "agora": sum("agora" in t.reached for t in trainees),
            "lost": sum(not {"orientation", "remuneration", "agora"} <= t.reached for t in trainees),
            "duplicates": sum(any("duplicate" in p for p in t.problems) for t in trainees),
        }
        return counts

    async def _settle_one(self, trainee: Trainee) -> None:
        if trainee.dossier_id is None:
            return
        checks = {
            "orientation": lambda: self._status_in(trainee.prescription_id, {"entered"}),
            "remuneration": lambda: self._pay_closed(trainee.dossier_id),
            "agora": lambda: self._agora_settled(trainee),
        }
        for name, check in checks.items():
            try:
                await eventually(check, self.deadline_s, interval=0.3, message=name)
                trainee.reached.add(name)
            except AssertionError as exc:
                trainee.problems.append(f"{name}: {exc}")
        files = (await self.call(self.org_sessions, "GET", "/dossiers", params={"prescription_id": trainee.prescription_id})).json()["items"]
        if len(files) != 1:
            trainee.problems.append(f"duplicate: {len(files)} training files for one prescription")

    async def _pay_closed(self, dossier_id: str) -> bool:
        response = await self.call(self.region_pay, "GET", f"/files/{dossier_id}")
        return response.status_code == 200 and response.json()["state"] == "closed"

    async def _agora_settled(self, trainee: Trainee) -> bool:
        files = (await self.call(self.sandbox, "GET", "/v1/holdings", params={"funder_ref": trainee.dossier_id})).json().get("files", [])
        view = await self.call(self.gateway, "GET", f"/dossiers/{trainee.dossier_id}")
        if not files or files[0]["state"] != "settled" or view.status_code != 200:
            return False
        flows = view.json()["flows"]
        if not flows or any(f["status"] != "acknowledged" for f in flows):
            return False
        operations = [op["operation"] for op in files[0]["operations"]]
        expected = ["create", "enter", "exit", "settle"]
        if operations != expected or [f["operation"] for f in flows] != expected:
            trainee.problems.append(f"duplicate or out of order: AGORA {operations}, flows {[f['operation'] for f in flows]}")
        if len({f["idempotency_key"] for f in flows}) != len(flows):
            trainee.problems.append("duplicate: two flows share an idempotency key")
        return True


@pytest.fixture
def cohort(supervised):
    return lambda: Cohort(supervised)


@pytest.fixture(scope="session")
def fast_variables() -> dict[str, str]:
    return fast_env()


@pytest.fixture
def cohort_on(fault_settings):
    """A cohort for a suite of the test's own (not the package's supervised one)."""
    return lambda suite: Cohort(Supervised(suite, supervisor=None, settings=fault_settings))
