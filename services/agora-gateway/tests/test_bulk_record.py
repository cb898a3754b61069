"""The gateway's bulk records (from the back-fill export) as the AGORA sandbox checks them, over HTTP."""

from __future__ import annotations

import json
import uuid

from agora_gateway.domain.export import bulk_record, parse_line
from pacte_testing.agora import VALID_NIRS, export_line


async def test_bulk_checks_each_record(sandbox):
    good = bulk_record(parse_line(json.dumps(export_line())), VALID_NIRS[1][:13], "job_seeker")
    bad = dict(good, funder_ref=str(uuid.uuid4()), organisation_siret="11111111111111")
    answer = await sandbox.client.post("/v1/bulk/files", json={"files": [good, bad]}, headers={"Idempotency-Key": "b1"})
    results = answer.json()["results"]
    assert [r["status"] for r in results] == ["acknowledged", "rejected"]
    assert results[0]["file_state"] == "settled" and results[1]["code"] == "invalid_siret"
    assert sandbox.file(good["funder_ref"])["settlement"]["cost"] == "5000.00"
