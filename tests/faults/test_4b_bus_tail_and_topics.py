"""Looking at the bus without kcat (docs/runbook.md): `pacte bus tail` shows a journey's events
decoded, `pacte bus topics` lists the topics with partitions, end offsets and consumer lag —
from another terminal, against the supervised suite's broker (Tansu)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

from pacte_common.events import Topics


def _bus(supervised, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PACTE_SUITE_DATA_DIR": str(supervised.suite.settings.data_dir)}
    command = [sys.executable, "-m", "pacte_tools.cli", "bus", *args, "--bootstrap", supervised.suite.bootstrap]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)


def _messages(output: str) -> list[dict]:
    """The printed messages: position line, headers, JSON body."""
    messages = []
    for block in output.split("--- ")[1:]:
        position, _, rest = block.partition("\n")
        headers, body_lines = {}, []
        for line in rest.splitlines():
            if body_lines or line.startswith(("{", "[")):
                body_lines.append(line)
            elif ": " in line:
                name, _, value = line.partition(": ")
                headers[name] = value
        messages.append({"position": position, "headers": headers, "body": json.loads("\n".join(body_lines))})
    return messages


async def test_tail_shows_a_journeys_events_decoded_and_topics_lists_lag(supervised, cohort):
    namespace = supervised.suite.settings.topic_namespace
    async with cohort() as c:
        session_id = await c.open_session()
        trainee = c.trainees(1)[0]
        await c.journey(session_id, trainee)
        counts = await c.settle([trainee])
    assert counts["lost"] == 0, trainee.problems
    topic = namespace + Topics.PRESCRIPTIONS

    tail = await asyncio.to_thread(
        _bus, supervised, "tail", topic, "--from-beginning", "--no-follow", "--key", trainee.prescription_id
    )
    assert tail.returncode == 0, tail.stderr
    messages = _messages(tail.stdout)
    types = [m["headers"]["ce_type"].rsplit(".", 2)[-2] for m in messages]
    print(f"\n[faults] bus tail of one prescription: {len(messages)} event(s): {types}")
    assert types[0] == "submitted" and {"admitted", "entered"} <= set(types), types
    for message in messages:
        assert f"{topic}[" in message["position"] and f"key={trainee.prescription_id}" in message["position"]
        assert message["headers"]["ce_subject"] == trainee.prescription_id
        assert message["headers"]["content-type"] == "application/json"
        assert trainee.prescription_id in json.dumps(message["body"])

    only_admitted = await asyncio.to_thread(
        _bus, supervised, "tail", topic, "--from-beginning", "--no-follow", "--key", trainee.prescription_id,
        "--type", "prescription.admitted",
    )
    assert [m["headers"]["ce_type"] for m in _messages(only_admitted.stdout)] == [
        "fr.paysdelaloire.pacte.prescription.admitted.v1"
    ]

    listing = await asyncio.to_thread(_bus, supervised, "topics", "--prefix", namespace)
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    print(f"[faults] bus topics: {len(lines)} line(s)")
    assert lines[0].startswith("cluster ")
    row = next(line for line in lines if line.startswith(topic + "\t"))
    assert "partitions=2" in row and "end offsets [0:" in row
    groups = lines[lines.index(row) + 1 :]
    assert any(line.startswith("  group ") and "lag=" in line for line in groups), listing.stdout
