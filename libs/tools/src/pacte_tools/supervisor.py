"""The supervisor behind `pacte up`: one crash is one restart, never the end of the suite.

Every `interval_s` it looks at each process of the suite (broker, helpers, services):
- a process that exited is restarted after a backoff (`backoff_initial_s`, doubling up to
  `backoff_max_s`; back to the start once it has stayed up `stable_after_s`), its crash and
  restart counted and logged. A broker restart is a new incarnation (fresh cluster id): the
  suite's topics are created again and each relay and consumer resyncs by itself
  (messaging.py, consumer.py);
- a port still held by another process delays the restart (the log names the holder);
- readiness is probed against the very process started (instance id in `/health/live`).

Its state goes to `<data_dir>/pacte-up.status.json` (read by `pacte status`); `pacte restart
NAME` drops a request file in `<data_dir>/control/`, picked up at the next tick.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
from pydantic_settings import BaseSettings, SettingsConfigDict

from pacte_tools.broker import port_open
from pacte_tools.suite import Suite, port_holder

log = logging.getLogger("pacte.supervisor")

STATUS_FILE = "pacte-up.status.json"
CONTROL_DIR = "control"


class SupervisorSettings(BaseSettings):
    """`pacte up` supervision (env prefix PACTE_SUPERVISOR_)."""

    model_config = SettingsConfigDict(env_prefix="PACTE_SUPERVISOR_", extra="ignore")

    interval_s: float = 0.5
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    # A process up this long is considered well again: its next crash restarts it quickly.
    stable_after_s: float = 60.0
    readiness_interval_s: float = 2.0  # while a process is not ready
    # Once every process is ready: probes and status writes cost the idle suite CPU for nothing
    # (a crash is still seen at the next tick, from the process's exit, not from a probe).
    steady_readiness_interval_s: float = 10.0
    status_heartbeat_s: float = 10.0
    probe_timeout_s: float = 2.0


@dataclass
class ChildState:
    name: str
    state: str = "starting"  # starting, ready, not ready, crashed, restarting, stopped
    pid: int | None = None
    instance_id: str | None = None
    started_at: float | None = None
    restarts: int = 0
    crashes: int = 0
    consecutive_crashes: int = 0
    last_exit_code: int | None = None
    last_event: str = ""
    ready: bool = False
    url: str | None = None
    restart_due: float | None = None  # monotonic time of the next restart attempt


class Supervisor:
    def __init__(self, suite: Suite, settings: SupervisorSettings | None = None):
        self.suite = suite
        self.settings = settings or SupervisorSettings()
        self.data_dir = Path(suite.settings.data_dir)
        self.status_file = self.data_dir / STATUS_FILE
        self.control_dir = self.data_dir / CONTROL_DIR
        self.control_dir.mkdir(parents=True, exist_ok=True)
        self.children: dict[str, ChildState] = {}
        self._last_probe = 0.0
        self._last_status: tuple[str, float] = ("", 0.0)  # what was written, and when
        self._lock = threading.Lock()
        for name, process in suite.children().items():
            self.children[name] = ChildState(name=name, url=self._url(name))
            self._adopt(name, process)

    # ------------------------------------------------------------------ the loop
    def run(self, stop: threading.Event) -> None:
        log.info("supervising %s", ", ".join(self.children))
        while not stop.is_set():
            try:
                self.tick()
            except Exception:  # the supervisor itself must not die of one bad tick
                log.exception("supervisor tick failed")
            stop.wait(self.settings.interval_s)
        self._write_status(stopping=True)

    def tick(self) -> None:
        with self._lock:
            now = time.monotonic()
            for name, process in self.suite.children().items():
                child = self.children.setdefault(name, ChildState(name=name, url=self._url(name)))
                if child.restart_due is not None:
                    if now >= child.restart_due:
                        self._restart(child)
                    continue
                if process is not None and process.poll() is not None:
                    self._crashed(child, process.returncode, now)
            self._handle_requests()
            all_ready = all(child.ready for child in self.children.values())
            probe_every = self.settings.steady_readiness_interval_s if all_ready else self.settings.readiness_interval_s
            if now - self._last_probe >= probe_every:
                self._last_probe = now
                self._probe_all()
            self._write_status()

    # ------------------------------------------------------------------ crashes and restarts
    def _crashed(self, child: ChildState, code: int, now: float) -> None:
        uptime = time.time() - (child.started_at or time.time())
        if uptime >= self.settings.stable_after_s:
            child.consecutive_crashes = 0
        child.crashes += 1
        child.consecutive_crashes += 1
        child.last_exit_code = code
        child.state, child.ready = "crashed", False
        delay = min(self.settings.backoff_max_s, self.settings.backoff_initial_s * 2 ** (child.consecutive_crashes - 1))
        child.restart_due = now + delay
        child.last_event = f"exited with code {code} after {uptime:.0f}s; restart in {delay:.1f}s"
        log.warning(
            "%s (pid %s) exited with code %s after %.0fs (crash %d); restarting in %.1fs; see %s",
            child.name, child.pid, code, uptime, child.crashes, delay, self._log_path(child.name),
        )

    def _restart(self, child: ChildState, *, requested: bool = False) -> None:
        port = self._port(child.name)
        if port is not None and port_open(self.suite.settings.host, port):
            holder = port_holder(self.suite.settings.host, port) or "another process"
            self._retry_later(child, f"port {port} still held by {holder}")
            return
        child.state = "restarting"
        try:
            self.suite.start_child(child.name)
        except Exception as exc:
            self._retry_later(child, f"restart failed: {exc}")
            return
        child.restarts += 1
        child.restart_due = None
        self._adopt(child.name, self.suite.children().get(child.name))
        child.last_event = ("restarted on request" if requested else "restarted after a crash") + f" (restart {child.restarts})"
        log.warning("%s %s: pid %s, restart %d", child.name, child.last_event, child.pid, child.restarts)

    def _retry_later(self, child: ChildState, reason: str) -> None:
        child.consecutive_crashes += 1
        delay = min(self.settings.backoff_max_s, self.settings.backoff_initial_s * 2 ** (child.consecutive_crashes - 1))
        child.restart_due = time.monotonic() + delay
        child.state = "crashed"
        child.last_event = f"{reason}; next try in {delay:.1f}s"
        log.error("%s: %s; next try in %.1fs", child.name, reason, delay)

    def _adopt(self, name: str, process) -> None:
        child = self.children[name]
        child.pid = process.pid if process is not None else None
        child.instance_id = self.suite.instance_ids.get(name)
        child.started_at = self.suite.started_at.get(name, time.time())
        child.state, child.ready = "starting", False

    # ------------------------------------------------------------------ operator requests
    def request_restart(self, name: str) -> None:
        """Stops then starts one process (what `pacte restart NAME` asks for)."""
        with self._lock:
            self._restart_on_request(name)

    def _handle_requests(self) -> None:
        for request in sorted(self.control_dir.glob("*.request.json")):
            try:
                name = json.loads(request.read_text())["restart"]
            except (OSError, ValueError, KeyError):
                name = None
            request.unlink(missing_ok=True)
            self._restart_on_request(name)

    def _restart_on_request(self, name: str | None) -> None:
        child = self.children.get(name) if name else None
        if child is None:
            log.error("ignored restart request: unknown process %r", name)
            return
        log.warning("%s: restart requested", name)
        self.suite.stop_child(child.name)
        self._restart(child, requested=True)

    # ------------------------------------------------------------------ readiness and status
    def _probe_all(self) -> None:
        with httpx.Client(timeout=self.settings.probe_timeout_s) as client:
            for name, child in self.children.items():
                if child.restart_due is not None:
                    continue
                ready = self.suite.probe(name, client)
                if ready and not child.ready:
                    log.info("%s ready (pid %s)", name, child.pid)
                elif child.ready and not ready:
                    log.warning("%s no longer ready (pid %s)", name, child.pid)
                child.ready = ready
                child.state = "ready" if ready else ("starting" if child.state == "starting" else "not ready")

    def _write_status(self, stopping: bool = False) -> None:
        """Written when something changed, else every `status_heartbeat_s` (uptimes move on)."""
        now = time.time()
        state = json.dumps([stopping, [asdict(child) for child in self.children.values()]], default=str)
        written, written_at = self._last_status
        if state == written and now - written_at < self.settings.status_heartbeat_s:
            return
        self._last_status = (state, now)
        report = {
            "supervisor_pid": os.getpid(),
            "updated_at": now,
            "stopping": stopping,
            "bootstrap": self.suite.bootstrap,
            "data_dir": str(self.data_dir.resolve()),
            "children": {
                name: {
                    **{k: v for k, v in asdict(child).items() if k != "restart_due"},
                    "uptime_s": round(now - child.started_at, 1) if child.started_at and child.restart_due is None else None,
                }
                for name, child in self.children.items()
            },
        }
        temporary = self.status_file.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps(report, indent=1))
        os.replace(temporary, self.status_file)

    # ------------------------------------------------------------------ helpers
    def _url(self, name: str) -> str | None:
        return self.suite.instance_url(name) if name in self.suite.processes else None

    def _port(self, name: str) -> int | None:
        return next((port for port, owner in self.suite.ports().items() if owner == name), None)

    def _log_path(self, name: str) -> Path:
        return self.data_dir / "logs" / f"{name}.log"


def read_status(data_dir: Path) -> dict | None:
    """The last status written by a running `pacte up`, or None if there is none."""
    path = Path(data_dir) / STATUS_FILE
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def supervisor_alive(status: dict | None) -> bool:
    if not status or status.get("stopping"):
        return False
    try:
        os.kill(int(status["supervisor_pid"]), 0)
        return True
    except (OSError, KeyError, ValueError):
        return False


def ask_restart(data_dir: Path, name: str) -> None:
    """Leaves a restart request for the running supervisor (`pacte restart NAME`)."""
    control = Path(data_dir) / CONTROL_DIR
    control.mkdir(parents=True, exist_ok=True)
    request = control / f"{time.time_ns()}-{uuid.uuid4().hex[:8]}.request.json"
    temporary = request.with_suffix(".tmp")
    temporary.write_text(json.dumps({"restart": name}))
    os.replace(temporary, request)
