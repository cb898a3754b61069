from orientation.main import create_app
from orientation.settings import OrientationSettings
from pacte_testing import eventually, running


async def test_ready_once_database_migrated_and_broker_reached(database_url, bus_settings):
    app = create_app(OrientationSettings(database_url=database_url, bus=bus_settings))
    async with running(app) as client:
        assert (await client.get("/health/live")).json()["status"] == "ok"

        async def ready():
            return (await client.get("/health/ready")).status_code == 200

        await eventually(ready, message="orientation ready")
        body = (await client.get("/health/ready")).json()
        assert body["checks"] == {"database": "ok"}, "readiness is the service's own database only"
        status = (await client.get("/health/status")).json()
        assert status["components"]["broker"]["reachable"] and status["components"]["broker"]["cluster_id"]
        metrics = await client.get("/metrics")
        assert "pacte_outbox_pending" in metrics.text


async def test_status_says_when_the_token_issuer_is_unreachable(database_url, bus_settings):
    from pacte_common.auth import OrgKind
    from pacte_testing import auth_header
    from pacte_tools.broker import free_port

    unreachable = f"http://127.0.0.1:{free_port()}/jwks"  # nothing listens there
    settings = OrientationSettings(database_url=database_url, bus=bus_settings, jwt_jwks_url=unreachable, jwt_jwks_timeout_s=0.5)
    app = create_app(settings)
    async with running(app) as client:
        refused = await client.get("/prescriptions", headers=auth_header(settings, OrgKind.REGION, "region"))
        assert refused.status_code == 503, refused.text
        assert int(refused.headers["retry-after"]) >= 1
        status = (await client.get("/health/status")).json()
        issuer = status["components"]["token_issuer"]
        assert issuer["reachable"] is False and issuer["jwks_url"] == unreachable
        assert any(reason.startswith("token issuer unreachable (none kept)") for reason in status["reasons"]), status["reasons"]


async def test_metrics_and_status_only_for_the_operators_networks_or_their_token(database_url, bus_settings):
    """With PACTE_OBSERVABILITY_* set, /metrics and /health/status answer the allowed networks or the
    observability token only (a 403 problem otherwise); liveness and readiness stay open to probes."""
    closed = OrientationSettings(database_url=database_url, bus=bus_settings, observability_networks=["10.0.0.0/8"],
                                 observability_token="metrics-reader-token")
    async with running(create_app(closed)) as client:  # the test client calls from 127.0.0.1
        for path in ("/metrics", "/health/status"):
            refused = await client.get(path)
            assert refused.status_code == 403 and refused.headers["content-type"] == "application/problem+json"
            assert (await client.get(path, headers={"Authorization": "Bearer wrong"})).status_code == 403
            assert (await client.get(path, headers={"Authorization": "Bearer metrics-reader-token"})).status_code == 200
        assert (await client.get("/health/live")).status_code == 200
        assert (await client.get("/health/ready")).status_code in (200, 503)
    local = OrientationSettings(database_url=database_url, bus=bus_settings, observability_networks=["127.0.0.0/8"])
    async with running(create_app(local)) as client:
        assert (await client.get("/metrics")).status_code == 200
