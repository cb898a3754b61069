from pacte_testing import eventually, running
from sessions.main import create_app
from sessions.settings import SessionsSettings


async def test_ready_once_database_migrated_and_broker_reached(database_url, bus_settings):
    app = create_app(SessionsSettings(database_url=database_url, bus=bus_settings))
    async with running(app) as client:
        assert (await client.get("/health/live")).json()["status"] == "ok"

        async def ready():
            return (await client.get("/health/ready")).status_code == 200

        await eventually(ready, message="sessions ready")
        body = (await client.get("/health/ready")).json()
        assert body["checks"] == {"database": "ok"}, "readiness is the service's own database only"
        status = (await client.get("/health/status")).json()
        assert status["components"]["broker"]["reachable"] and status["components"]["broker"]["cluster_id"]

        async def purge_turn() -> dict | None:  # the first start of a new database runs it at once
            current = (await client.get("/health/status")).json()
            turn = current["components"].get("scheduled_jobs", {}).get("retention-purge")
            return turn if turn and turn["finished_at"] else None

        turn = await eventually(purge_turn, message="the retention purge's turn shown")
        assert turn["started_by"] == status["instance_id"] and "outcomes" in turn["outcome"] and "deleted" in turn["outcome"]

        async def partitions_held() -> list | None:  # alone in its groups, this instance holds every partition
            consumers = (await client.get("/health/status")).json()["components"]["consumers"]
            held = [sorted(c["partitions_held"]) == sorted(c["lag"]) for c in consumers]
            return consumers if consumers and all(held) else None

        await eventually(partitions_held, message="each consumer's partitions shown as held by this instance")
        metrics = await client.get("/metrics")
        assert "pacte_outbox_pending" in metrics.text
