"""One instance of a service among several behind one address (`pacte up --instances N`).

`python -m pacte_tools.serve --factory sessions.main:create_app --host H --port P --own-port Q`
serves the app on two sockets:
- the service's address, bound with SO_REUSEPORT: every instance binds it, and the kernel
  spreads new connections over the live ones (a dead instance's socket closes with it, so
  nothing is sent there any more) — one address per service, no proxy;
- an address of its own, which only this instance answers: the supervisor's readiness probes
  and the fault tests reach one instance through it.
A deployment does the same with its load balancer (docker-compose.yml: replicas).
"""

from __future__ import annotations

import socket

import typer
import uvicorn


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
    port: int = typer.Option(..., help="the service's address, shared by its instances"),
    own_port: int = typer.Option(..., help="this instance's own address"),
    http: str = typer.Option("auto", help="uvicorn's HTTP protocol class"),
) -> None:
    config = uvicorn.Config(factory, factory=True, http=http, access_log=False, log_level="warning")
    sockets = [bound_socket(host, port, shared=True), bound_socket(host, own_port, shared=False)]
    uvicorn.Server(config).run(sockets=sockets)


if __name__ == "__main__":
    typer.run(main)
