from pacte_testing import eventually, running
from remuneration.main import create_app
from remuneration.settings import RemunerationSettings


async def test_ready_once_database_migrated_and_broker_reached(database_url, bus_settings):
    app = create_app(RemunerationSettings(database_url=database_url, bus=bus_settings))
    async with running(app) as client:
        assert (await client.get("/health/live")).json()["status"] == "ok"

        async def ready():
            return (await client.get("/health/ready")).status_code == 200

        await eventually(ready, message="remuneration ready")
        body = (await client.get("/health/ready")).json()
        assert body["checks"] == {"database": "ok"}, "readiness is the service's own database only"
        status = (await client.get("/health/status")).json()
        assert status["components"]["broker"]["reachable"] and status["components"]["broker"]["cluster_id"]
        metrics = await client.get("/metrics")
        assert "pacte_outbox_pending" in metrics.text
