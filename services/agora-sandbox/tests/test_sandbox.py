"""The AGORA sandbox's checks, idempotency and faults, over real HTTP."""

from __future__ import annotations

import uuid

import httpx
from agora_sandbox.contract import OperationRequest
from agora_sandbox.store import Rejected, SandboxStore
from hypothesis import given
from hypothesis import strategies as st
from pacte_testing.agora import VALID_NIRS, VALID_SIRET


def create_body(funder_ref: str | None = None, *, nir: str | None = VALID_NIRS[0][:13], siret: str = VALID_SIRET, start="2026-01-05", end="2026-06-30"):
    return {
        "operation": "create",
        "data": {
            "funder_ref": funder_ref or str(uuid.uuid4()),
            "identity": {"birth_name": "MARTIN", "first_names": "Léa", "birth_date": "1990-04-02", "sex": "F", "nir": nir},
            "organisation_siret": siret,
            "programme_code": "VISA",
            "session_start_date": start,
            "session_end_date": end,
        },
    }


async def op(sandbox, body, key=None):
    return await sandbox.client.post("/v1/operations", json=body, headers={"Idempotency-Key": key or str(uuid.uuid4())})


async def test_bearer_token_required(sandbox):
    async with httpx.AsyncClient(base_url=sandbox.url) as anonymous:
        assert (await anonymous.post("/v1/operations", json=create_body())).status_code == 401
        wrong = await anonymous.get("/v1/holdings", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and wrong.json()["code"] == "unauthorized"


async def test_payload_checks_answer_coded_rejections(sandbox):
    cases = [
        (create_body(nir="123"), "invalid_nir"),
        (create_body(nir=VALID_NIRS[0]), "invalid_nir"),  # 15 characters: the key must not be sent
        (create_body(siret="12345678901234"), "invalid_siret"),
        (create_body(start="2026-06-30", end="2026-01-05"), "dates_out_of_order"),
        ({"operation": "enter", "agora_file_id": "AGORA-404", "data": {"entry_date": "2026-01-05"}}, "unknown_file"),
        ({"operation": "create", "data": {"funder_ref": "x"}}, "invalid_payload"),
    ]
    for body, code in cases:
        answer = await op(sandbox, body)
        assert answer.status_code in (404, 409, 422), answer.text
        assert answer.json() == {"status": "rejected", "code": code, "message": answer.json()["message"]}
    assert (await sandbox.holdings())["files_total"] == 0


async def test_legal_order_dates_and_cost(sandbox):
    created = (await op(sandbox, create_body())).json()
    file_id = created["agora_file_id"]
    assert created["status"] == "acknowledged" and created["file_state"] == "created"
    exit_first = await op(sandbox, {"operation": "exit", "agora_file_id": file_id, "data": {"exit_date": "2026-06-30", "exit_kind": "completed"}})
    assert exit_first.status_code == 409 and exit_first.json()["code"] == "illegal_order"
    outside = await op(sandbox, {"operation": "enter", "agora_file_id": file_id, "data": {"entry_date": "2025-12-01"}})
    assert outside.json()["code"] == "dates_out_of_order"
    assert (await op(sandbox, {"operation": "enter", "agora_file_id": file_id, "data": {"entry_date": "2026-01-05"}})).status_code == 200
    early_exit = await op(sandbox, {"operation": "exit", "agora_file_id": file_id, "data": {"exit_date": "2026-01-01", "exit_kind": "completed"}})
    assert early_exit.json()["code"] == "dates_out_of_order"
    assert (await op(sandbox, {"operation": "exit", "agora_file_id": file_id, "data": {"exit_date": "2026-06-30", "exit_kind": "completed"}})).status_code == 200
    wrong_cost = await op(sandbox, {"operation": "settle", "agora_file_id": file_id, "data": {"realised_hours": "10", "hourly_price": "12.5", "cost": "100"}})
    assert wrong_cost.json()["code"] == "cost_mismatch"
    settled = await op(sandbox, {"operation": "settle", "agora_file_id": file_id, "data": {"realised_hours": "10", "hourly_price": "12.5", "cost": "125.00"}})
    assert settled.json()["file_state"] == "settled"


async def test_replayed_key_gets_the_first_answer_and_is_counted(sandbox):
    body = create_body()
    first = await op(sandbox, body, key="k-1")
    again = await op(sandbox, body, key="k-1")
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    bad = create_body(nir="1")
    rejected = await op(sandbox, bad, key="k-2")
    assert (await op(sandbox, bad, key="k-2")).json() == rejected.json()
    other_body = await op(sandbox, create_body(), key="k-1")
    assert other_body.json()["code"] == "idempotency_key_reused"
    holdings = await sandbox.holdings()
    assert holdings["files_total"] == 1 and holdings["duplicates_absorbed"] == 2


async def test_faults_on_demand(sandbox):
    await sandbox.faults(error_rate=1.0)
    assert (await op(sandbox, create_body())).status_code == 503
    await sandbox.faults(rejections=[{"operation": "create", "code": "agora_says_no", "remaining": 1}])
    refused = await op(sandbox, create_body())
    assert refused.status_code == 422 and refused.json()["code"] == "agora_says_no"
    assert (await op(sandbox, create_body())).status_code == 200
    await sandbox.faults(timeout_rate=1.0, timeout_delay_s=0.5)
    async with httpx.AsyncClient(base_url=sandbox.url, headers=sandbox.client.headers, timeout=0.1) as impatient:
        body, key = create_body(), "slow-1"
        try:
            await impatient.post("/v1/operations", json=body, headers={"Idempotency-Key": key})
            raise AssertionError("expected a timeout")
        except httpx.TimeoutException:
            pass
    await sandbox.faults()
    replay = await op(sandbox, body, key="slow-1")  # processed before the late answer: the resend gets it
    assert replay.status_code == 200 and replay.headers["Idempotent-Replayed"] == "true"
    injected = (await sandbox.holdings())["faults_injected"]
    assert injected["errors"] == 1 and injected["rejections"] == 1 and injected["timeouts"] == 1


operation_data = {
    "enter": {"entry_date": "2026-01-05"},
    "interrupt": {"start_date": "2026-02-02", "reason": "health"},
    "resume": {"resumption_date": "2026-02-16"},
    "exit": {"exit_date": "2026-06-30", "exit_kind": "completed"},
    "settle": {"realised_hours": "10", "hourly_price": "12.5", "cost": "125.00"},
    "cancel": {"reason": "mistake"},
}


# The legal order, written by hand from docs/agora-contract.md and docs/rules.md §6.2 — an oracle
# independent of the transition tables of the sandbox (agora_sandbox.rules) and of the gateway.
_LIVE = ("created", "in_training", "interrupted", "exited", "settled")
LEGAL_ORDER = {
    ("created", "enter"): "in_training",
    ("in_training", "interrupt"): "interrupted",
    ("interrupted", "resume"): "in_training",
    ("in_training", "exit"): "exited",
    ("interrupted", "exit"): "exited",
    ("exited", "settle"): "settled",
    **{(state, "cancel"): "cancelled" for state in _LIVE},
}


@given(st.lists(st.sampled_from(list(operation_data)), max_size=10))
def test_the_sandbox_accepts_exactly_the_legal_orders(operations):
    store = SandboxStore()
    created = store.operate(OperationRequest.model_validate(create_body(nir=VALID_NIRS[0][:13])), "c")
    state = "created"
    for index, operation in enumerate(operations):
        request = OperationRequest(operation=operation, agora_file_id=created["agora_file_id"], data=operation_data[operation])
        expected = LEGAL_ORDER.get((state, operation))
        try:
            answer = store.operate(request, f"k{index}")
        except Rejected as rejected:
            # dates may refuse a legal order (e.g. a second interruption before the first resumption's date)
            assert expected is None or rejected.code == "dates_out_of_order", rejected.code
            assert expected is not None or rejected.code == "illegal_order"
            continue
        assert expected is not None and answer["file_state"] == expected
        state = expected
