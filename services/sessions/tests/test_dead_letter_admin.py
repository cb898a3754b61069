"""`POST /admin/dead-letters/{topic}/replay` (pacte_common.service), as the console calls it:
Region only, and only the service's own dead-letter topics."""


async def test_replay_is_for_the_region_and_the_services_own_topics(api):
    refused = await api.client.post("/admin/dead-letters/anything/replay", headers=api.org)
    assert refused.status_code == 403
    unknown = await api.client.post("/admin/dead-letters/pacte.trainees.dlq.someone-else/replay", headers=api.region)
    assert unknown.status_code == 404 and "not a dead-letter topic of sessions" in unknown.json()["detail"]
    bad = await api.client.post("/admin/dead-letters/x/replay?settle_s=0", headers=api.region)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "query.settle_s"
    operation = (await api.client.get("/openapi.json")).json()["paths"]["/admin/dead-letters/{topic}/replay"]["post"]
    assert {"200", "401", "403", "404", "422"} <= set(operation["responses"])
