from agora_gateway.main import create_app
from agora_gateway.settings import AgoraGatewaySettings
from pacte_common.auth import OrgKind
from pacte_testing import assert_no_5xx_from_hostile_input, eventually, running


async def test_ready_once_database_migrated_and_broker_reached(database_url, bus_settings):
    app = create_app(AgoraGatewaySettings(database_url=database_url, bus=bus_settings))
    async with running(app) as client:
        assert (await client.get("/health/live")).json()["status"] == "ok"

        async def ready():
            return (await client.get("/health/ready")).status_code == 200

        await eventually(ready, message="agora_gateway ready")
        body = (await client.get("/health/ready")).json()
        assert body["checks"] == {"database": "ok"}, "readiness is the service's own database only"
        status = (await client.get("/health/status")).json()
        assert status["components"]["broker"]["reachable"] and status["components"]["broker"]["cluster_id"]
        metrics = await client.get("/metrics")
        assert "pacte_outbox_pending" in metrics.text
        # no route answers hostile input with a 5xx (the app started once for both checks);
        # its operations are the Region's: other callers stop at the 403
        settings = app.state.runtime.settings
        assert await assert_no_5xx_from_hostile_input(client, settings, kinds=(OrgKind.REGION,)) > 10

