"""The suite as `pacte up` runs it: every service ready, documented, observable (health split,
HTTP metrics, access log) and checked against the process just started; ports checked free."""

import json
import socket
import subprocess
import sys
import uuid

import httpx
import pytest
from pacte_common.auth import OrgKind
from pacte_testing import eventually
from pacte_tools.dev_issuer import request_token
from pacte_tools.suite import SERVICES, PortsTaken, Suite, SuiteSettings


async def test_every_service_is_ready_with_docs_and_metrics(suite):
    async with httpx.AsyncClient(timeout=10) as client:
        for spec in SERVICES:
            base = suite.url(spec.name)
            assert (await client.get(f"{base}/health/live")).status_code == 200
            if spec.has_database:  # the API services (the console is a web page, without OpenAPI)
                assert (await client.get(f"{base}/openapi.json")).status_code == 200
                live = (await client.get(f"{base}/health/live")).json()
                assert live["instance_id"] == suite.instance_ids[spec.name] and live["pid"] == suite.processes[spec.name].pid
                ready = (await client.get(f"{base}/health/ready")).json()
                assert ready["checks"] == {"database": "ok"}, "ready means: can accept its own writes"

                async def broker_seen(base=base):
                    status = (await client.get(f"{base}/health/status")).json()
                    return status if status["components"]["broker"]["reachable"] else None

                status = await eventually(broker_seen, 30, interval=0.5, message=f"{spec.name} sees the broker")
                assert status["components"]["outbox"]["backlog"] is not None
                assert all("lag" in consumer for consumer in status["components"]["consumers"])
                metrics = (await client.get(f"{base}/metrics")).text
                for name in ("pacte_outbox_pending", "pacte_outbox_oldest_unsent_age_seconds", "pacte_broker_up", "http_requests_total"):
                    assert name in metrics, name
                catalogue = (await client.get(f"{base}/asyncapi.json")).json()
                assert catalogue["asyncapi"].startswith("3.") and catalogue["channels"]


def test_readiness_counts_only_the_process_just_started(suite):
    """An old process still answering on the port (another instance id) is not the one started."""
    with httpx.Client(timeout=5) as client:
        assert suite.probe("remuneration", client)
        started = suite.instance_ids["remuneration"]
        suite.instance_ids["remuneration"] = uuid.uuid4().hex  # as if we had just started another one
        try:
            assert not suite.probe("remuneration", client)
        finally:
            suite.instance_ids["remuneration"] = started


async def test_one_access_line_per_request_with_the_route_template_and_trace_id(suite):
    token = request_token(suite.issuer_settings.issuer_url, OrgKind.PRESCRIBER.value, "PE-44001", ["orientation"])
    unknown, trace_id = str(uuid.uuid4()), uuid.uuid4().hex
    async with httpx.AsyncClient(base_url=suite.url("orientation"), timeout=10) as client:
        response = await client.get(
            f"/prescriptions/{unknown}",
            headers={"Authorization": f"Bearer {token}", "traceparent": f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01"},
        )
    assert response.status_code == 404
    log_file = suite.settings.data_dir / "logs" / "orientation.log"

    def access_line():
        for line in log_file.read_text(errors="replace").splitlines():
            if '"pacte.access"' in line and trace_id in line:
                return json.loads(line)
        return None

    line = await eventually(access_line, 10, interval=0.2, message="access log line")
    assert line["route"] == "/prescriptions/{prescription_id}" and line["method"] == "GET" and line["status"] == 404
    assert line["duration_ms"] >= 0 and line["trace_id"] == trace_id
    assert unknown not in json.dumps(line), "the raw URL (with its id) is not logged"


def test_ports_are_checked_free_and_the_holder_named(tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        settings = SuiteSettings.on_free_ports(tmp_path, sessions_port=taken)
        with pytest.raises(PortsTaken) as refused:
            Suite(settings).check_ports_free()
    message = str(refused.value)
    assert f"port {taken} (sessions)" in message and "pid" in message, message
    assert "orientation" not in message, "only the taken port is named"


def test_an_external_provider_replaces_the_dev_issuer(tmp_path, monkeypatch):
    """`pacte up` honours the deployment-wide PACTE_JWT_ISSUER: no dev issuer, its variables untouched."""
    monkeypatch.setenv("PACTE_JWT_ISSUER", "https://id.region.example/realms/pacte")
    suite = Suite(SuiteSettings.for_cli(**SuiteSettings.on_free_ports(tmp_path).model_dump(exclude={"external_issuer"})))
    assert not suite.runs_dev_issuer and "dev-issuer" not in suite.ports().values()
    assert "dev-issuer" not in suite.children()
    env = suite.service_env(SERVICES[1])
    assert "PACTE_JWT_ISSUER" not in env and "PACTE_JWT_JWKS_URL" not in env  # the provider's, from the environment

    answer = subprocess.run([sys.executable, "-m", "pacte_tools.cli", "token", "--kind", "region"],
                            capture_output=True, text=True, timeout=60)
    assert answer.returncode == 2 and "external provider (https://id.region.example/realms/pacte)" in answer.stderr
    assert answer.stdout == ""


def test_a_suite_built_by_tests_runs_its_dev_issuer_whatever_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("PACTE_JWT_ISSUER", "https://test-issuer.invalid")  # what a test process holds
    suite = Suite(SuiteSettings.on_free_ports(tmp_path))  # tests and benchmarks: their own settings
    assert suite.runs_dev_issuer and "dev-issuer" in suite.ports().values()
    assert suite.service_env(SERVICES[1])["PACTE_JWT_ISSUER"] == suite.issuer_settings.issuer_url
