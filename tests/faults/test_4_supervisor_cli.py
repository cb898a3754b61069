"""`pacte status` and `pacte restart` from another terminal, against the supervised suite."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def _pacte(supervised, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PACTE_SUITE_DATA_DIR": str(supervised.suite.settings.data_dir)}
    return subprocess.run([sys.executable, "-m", "pacte_tools.cli", *args], env=env, capture_output=True, text=True, timeout=timeout)


def test_status_then_restart_one_service_from_another_terminal(supervised):
    status = _pacte(supervised, "status", "--json")
    assert status.returncode == 0, status.stderr
    before = json.loads(status.stdout)["children"]
    assert {"broker", "orientation", "sessions", "remuneration", "agora-gateway", "agora-sandbox"} <= set(before)
    for name, child in before.items():
        assert child["pid"] and child["uptime_s"] is not None and "restarts" in child, (name, child)

    restarted = _pacte(supervised, "restart", "remuneration", "--wait", "240")
    assert restarted.returncode == 0, restarted.stdout + restarted.stderr
    after = json.loads(_pacte(supervised, "status", "--json").stdout)["children"]
    old, new = before["remuneration"], after["remuneration"]
    print(f"\n[faults] pacte restart remuneration: pid {old['pid']} -> {new['pid']}, restarts {old['restarts']} -> {new['restarts']}")
    assert new["pid"] != old["pid"] and new["restarts"] == old["restarts"] + 1 and new["ready"]
    assert new["instance_id"] != old["instance_id"]
    assert after["orientation"]["pid"] == before["orientation"]["pid"], "only the one asked for"

    unknown = _pacte(supervised, "restart", "no-such-service", "--wait", "0")
    assert unknown.returncode == 2 and "unknown process" in unknown.stdout + unknown.stderr
