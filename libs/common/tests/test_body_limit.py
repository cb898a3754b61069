"""Request bodies over the limit are refused with 413 while they stream in,
through a real uvicorn server and raw HTTP/1.1, so a chunked body is really chunked."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from fastapi import APIRouter, FastAPI, Request
from pacte_common.errors import install_error_handlers
from pacte_common.http import install_http_conventions
from pacte_common.settings import ServiceSettings
from pacte_tools.broker import free_port
from pydantic import BaseModel

LIMIT = 4096
LARGE_LIMIT = 65536


class LimitSettings(ServiceSettings):
    max_request_body_bytes: int = LIMIT
    import_max_bytes: int = LARGE_LIMIT


class Note(BaseModel):
    text: str


def make_app() -> tuple[FastAPI, dict]:
    app = FastAPI()
    install_error_handlers(app)
    install_http_conventions(app, LimitSettings())
    seen: dict = {"handled": 0}

    @app.post("/notes")
    async def create_note(note: Note) -> dict:
        seen["handled"] += 1
        return {"length": len(note.text)}

    imports = APIRouter()  # services declare routes on routers; FastAPI does not flatten them

    @imports.post("/imports", openapi_extra={"x-body-limit-setting": "import_max_bytes"})
    async def import_file(request: Request) -> dict:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
        seen["handled"] += 1
        return {"size": size}

    app.include_router(imports)
    return app, seen


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[int, dict]]:
    app, seen = make_app()
    port = free_port()
    instance = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not instance.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield port, seen
    instance.should_exit = True
    thread.join(10)


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before a response: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return status, headers, body


def open_chunked(port: int, path: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=15)
    sock.sendall(
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n".encode()
    )
    return sock


def send_chunk(sock: socket.socket, payload: bytes) -> None:
    sock.sendall(f"{len(payload):x}\r\n".encode() + payload + b"\r\n")


def test_a_chunked_body_is_refused_as_soon_as_it_passes_the_limit(server):
    port, seen = server
    handled_before = seen["handled"]
    sock = open_chunked(port, "/notes")
    try:
        send_chunk(sock, b'{"text": "' + b"a" * 1000)
        for _ in range(LIMIT // 1000):
            send_chunk(sock, b"a" * 1000)
        # The body is not finished (no last chunk): the answer comes all the same.
        status, headers, body = read_response(sock)
    finally:
        sock.close()
    assert status == 413
    assert headers["content-type"] == "application/problem+json"
    problem = json.loads(body)
    assert problem["type"].endswith("/payload-too-large") and problem["limit_bytes"] == LIMIT
    assert problem["instance"] == "/notes"
    assert seen["handled"] == handled_before, "the route ran on a refused body"


def test_a_declared_length_over_the_limit_is_refused_before_any_byte_is_read(server):
    port, _ = server
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        sock.sendall(
            f"POST /notes HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {LIMIT + 1}\r\n\r\n".encode()
        )
        status, headers, body = read_response(sock)
    assert status == 413 and json.loads(body)["status"] == 413


def test_bodies_within_the_limit_are_served_chunked_or_not(server):
    port, _ = server
    sock = open_chunked(port, "/notes")
    try:
        send_chunk(sock, b'{"text": "')
        send_chunk(sock, b"b" * (LIMIT - 100))
        send_chunk(sock, b'"}')
        sock.sendall(b"0\r\n\r\n")
        status, _, body = read_response(sock)
    finally:
        sock.close()
    assert status == 200 and json.loads(body) == {"length": LIMIT - 100}


def test_a_route_naming_a_larger_limit_setting_gets_it(server):
    port, _ = server
    sock = open_chunked(port, "/imports")
    try:
        for _ in range(LARGE_LIMIT // 8192):
            send_chunk(sock, b"x" * 8192)
        sock.sendall(b"0\r\n\r\n")
        status, _, body = read_response(sock)
    finally:
        sock.close()
    assert status == 200 and json.loads(body) == {"size": LARGE_LIMIT}

    sock = open_chunked(port, "/imports")
    try:
        for _ in range(LARGE_LIMIT // 8192 + 1):
            send_chunk(sock, b"x" * 8192)
        status, _, body = read_response(sock)
    finally:
        sock.close()
    assert status == 413 and json.loads(body)["limit_bytes"] == LARGE_LIMIT
