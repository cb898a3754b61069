"""The suite as `pacte up` runs it: every service ready, documented, and serving its events' catalogue."""

import httpx
from pacte_common.suite import SERVICES


async def test_every_service_is_ready_with_docs_and_metrics(suite):
    async with httpx.AsyncClient(timeout=10) as client:
        for spec in SERVICES:
            base = suite.url(spec.name)
            assert (await client.get(f"{base}/health/live")).status_code == 200
            assert (await client.get(f"{base}/openapi.json")).status_code == 200
            if spec.has_database:
                ready = (await client.get(f"{base}/health/ready")).json()
                assert ready["checks"]["database"] == "ok" and ready["checks"]["broker"] == "ok"
                assert "pacte_outbox_pending" in (await client.get(f"{base}/metrics")).text
                catalogue = (await client.get(f"{base}/asyncapi.json")).json()
                assert catalogue["asyncapi"].startswith("3.") and catalogue["channels"]
