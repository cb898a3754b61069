"""The France Travail sandbox keeps its contract (docs/france-travail.md): bearer token, one answer
per Idempotency-Key (replayed), the order of certificates, refusals by code, faults."""

from __future__ import annotations

import httpx
from france_travail_sandbox.main import create_app
from france_travail_sandbox.settings import DEV_SANDBOX_TOKEN

AUTH = {"Authorization": f"Bearer {DEV_SANDBOX_TOKEN}"}


def certificate(kind: str, ft_id: str = "1234567A", reference: str = "file-1") -> dict:
    return {"kind": kind, "france_travail_id": ft_id, "reference": reference, "data": {}}


async def test_contract_keys_order_refusals_and_faults():
    transport = httpx.ASGITransport(app=create_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://ft", headers=AUTH) as ft:
        assert (await ft.post("/v1/certificates", json=certificate("ais"), headers={"Authorization": "Bearer no"})).status_code == 401
        early = await ft.post("/v1/certificates", json=certificate("aes"), headers={"Idempotency-Key": "k0"})
        assert early.status_code == 422 and early.json()["code"] == "out_of_order"
        await ft.post("/v1/job-seekers", json={"france_travail_id": "1234567A", "unemployment_benefit": True, "daily_amount": "25.00"})
        ais = await ft.post("/v1/certificates", json=certificate("ais"), headers={"Idempotency-Key": "k1"})
        assert ais.status_code == 200 and ais.json()["replayed"] is False and "benefit" not in ais.json()
        again = await ft.post("/v1/certificates", json=certificate("ais"), headers={"Idempotency-Key": "k1"})
        assert again.json() == {**ais.json(), "replayed": True}
        conflict = await ft.post("/v1/certificates", json=certificate("ais", reference="file-2"), headers={"Idempotency-Key": "k1"})
        assert conflict.status_code == 409 and conflict.json()["code"] == "idempotency_conflict"
        aes = await ft.post("/v1/certificates", json=certificate("aes"), headers={"Idempotency-Key": "k2"})
        assert aes.json()["benefit"] == {"unemployment_benefit": True, "daily_amount": "25.00"}
        unknown = await ft.post("/v1/certificates", json=certificate("ais", "9000000A", "file-3"), headers={"Idempotency-Key": "k3"})
        assert unknown.status_code == 422 and unknown.json()["code"] == "unknown_job_seeker"
        malformed = await ft.post("/v1/certificates", json=certificate("ais", "12AB", "file-4"), headers={"Idempotency-Key": "k4"})
        assert malformed.json()["code"] == "invalid_identifier"

        await ft.put("/v1/faults", json={"down": True})
        assert (await ft.post("/v1/certificates", json=certificate("end"), headers={"Idempotency-Key": "k5"})).status_code == 503
        await ft.put("/v1/faults", json={"errors_next": 1, "duplicates_next": 1,
                                         "refusals": [{"kind": "interruption", "code": "E_DATES", "message": "Dates"}]})
        assert (await ft.post("/v1/certificates", json=certificate("end"), headers={"Idempotency-Key": "k5"})).status_code == 500
        lost = await ft.post("/v1/certificates", json=certificate("end"), headers={"Idempotency-Key": "k5"})
        assert lost.status_code == 503, "processed, its answer lost"
        resent = await ft.post("/v1/certificates", json=certificate("end"), headers={"Idempotency-Key": "k5"})
        assert resent.status_code == 200 and resent.json()["replayed"] is True
        refused = await ft.post("/v1/certificates", json=certificate("interruption", reference="file-5"), headers={"Idempotency-Key": "k6"})
        assert refused.json() == {"status": "refused", "code": "E_DATES", "message": "Dates"}
        held = (await ft.get("/v1/certificates", params={"reference": "file-1"})).json()["certificates"]
        assert [c["kind"] for c in held] == ["ais", "aes", "end"], "each once, the lost answer included"
        assert (await ft.get("/v1/faults")).json() == {"down": 1, "errors": 1, "timeouts": 0, "refusals": 1, "duplicates": 1}


def signed_month(month: str = "2026-01", version: int = 1, signed: str = "140", **extra) -> dict:
    data = {"month": month, "version": version, "planned_hours": "147", "signed_hours": signed,
            "justified_absence_hours": "7", "unjustified_absence_hours": "0", **extra}
    return {**certificate("attendance", reference="file-att"), "data": data}


async def test_a_signed_month_needs_the_aes_is_checked_and_comes_once_per_version_even_after_the_end():
    transport = httpx.ASGITransport(app=create_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://ft", headers=AUTH) as ft:
        async def send(body: dict, key: str) -> httpx.Response:
            return await ft.post("/v1/certificates", json=body, headers={"Idempotency-Key": key})

        assert (await send(signed_month(), "a0")).json()["code"] == "out_of_order", "a signed month before the AES"
        for kind in ("ais", "aes"):
            assert (await send({**certificate(kind, reference="file-att")}, kind)).status_code == 200
        for wrong, key in ((signed_month(signed="150"), "a1"), (signed_month(month="2026-13"), "a2"),
                           (signed_month(signed="-1"), "a3"), (signed_month(extra_field="x"), "a4"),
                           ({**signed_month(), "data": {"month": "2026-01"}}, "a5")):
            refused = await send(wrong, key)
            assert (refused.status_code, refused.json()["code"]) == (422, "invalid_payload"), wrong["data"]
        assert "data.signed_hours" in (await send(signed_month(signed="150"), "a1")).json()["message"]
        assert (await send(signed_month(), "a6")).status_code == 200
        assert (await send(signed_month(signed="143.5", version=2), "a7")).status_code == 200
        stale = await send(signed_month(version=2), "a8")
        assert stale.json()["code"] == "out_of_order", "a version not newer than the one received"
        assert (await send(certificate("end", reference="file-att"), "end")).status_code == 200
        assert (await send(signed_month("2026-06", signed="70"), "a9")).status_code == 200, "the last month closes after the end"
        assert (await send(certificate("cancellation", reference="file-att"), "cancel")).status_code == 200
        closed = await send(signed_month("2026-07"), "a10")
        assert closed.json()["code"] == "file_closed"
        held = (await ft.get("/v1/certificates", params={"reference": "file-att"})).json()["certificates"]
        assert [(c["kind"], c["data"].get("month"), c["data"].get("version")) for c in held] == [
            ("ais", None, None), ("aes", None, None), ("attendance", "2026-01", 1), ("attendance", "2026-01", 2),
            ("end", None, None), ("attendance", "2026-06", 1), ("cancellation", None, None)]
