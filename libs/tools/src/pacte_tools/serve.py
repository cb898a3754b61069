"""How `pacte up` serves every process of the suite: uvicorn, with a slower idle tick, and
optionally as one instance among several behind one address (`pacte up --instances N`).

`python -m pacte_tools.serve --factory sessions.main:create_app --host H --port P [--own-port Q]`

With `--own-port`, the app is served on two sockets:
- the service's address, bound with SO_REUSEPORT: every instance binds it, and the kernel
  spreads new connections over the live ones (a dead instance's socket closes with it, so
  nothing is sent there any more) — one address per service, no proxy;
- an address of its own, which only this instance answers: the supervisor's readiness probes
  and the fault tests reach one instance through it.
A deployment does the same with its load balancer (docker-compose.yml: replicas).

uvicorn's main loop wakes ten times a second to see whether it should stop and to refresh the
`date` header, which it only changes once a second. Eleven idle processes waking so cost about
1 % of a core (benchmarks/README.md, idle): here it wakes once per `PACTE_SERVE_TICK_S`, and at
once on a stop signal.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket

import typer
import uvicorn
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PACTE_SERVE_")

    # At most 1 s: the `date` header is refreshed on each tick.
    tick_s: float = Field(1.0, gt=0, le=1.0)


class QuietServer(uvicorn.Server):
    """uvicorn's server, ticking every `tick_s` and woken at once by a stop signal."""

    def __init__(self, config: uvicorn.Config, tick_s: float):
        super().__init__(config)
        self.tick_s = tick_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_asked: asyncio.Event | None = None

    async def main_loop(self) -> None:
        self._loop, self._stop_asked = asyncio.get_running_loop(), asyncio.Event()
        ticks_per_tick = max(1, round(self.tick_s * 10))  # on_tick counts uvicorn's 0.1 s ticks
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + ticks_per_tick) % 864000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop_asked.wait(), self.tick_s)

    def handle_exit(self, sig, frame) -> None:
        super().handle_exit(sig, frame)
        if self._loop is not None and self._stop_asked is not None:
            self._loop.call_soon_threadsafe(self._stop_asked.set)


def bound_socket(host: str, port: int, *, shared: bool) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if shared:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def main(
    factory: str = typer.Option(..., help="the app factory, module:function"),
    host: str = typer.Option("127.0.0.1"),
    port: int = typer.Option(..., help="the service's address (shared by its instances with --own-port)"),
    own_port: int | None = typer.Option(None, help="this instance's own address, when several share --port"),
    http: str = typer.Option("auto", help="uvicorn's HTTP protocol class"),
) -> None:
    config = uvicorn.Config(factory, factory=True, http=http, access_log=False, log_level="warning")
    if own_port is None:
        sockets = [bound_socket(host, port, shared=False)]
    else:
        sockets = [bound_socket(host, port, shared=True), bound_socket(host, own_port, shared=False)]
    QuietServer(config, ServeSettings().tick_s).run(sockets=sockets)


if __name__ == "__main__":
    typer.run(main)
