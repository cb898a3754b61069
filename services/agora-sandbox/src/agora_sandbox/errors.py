"""AGORA answers its errors in its own JSON shape (docs/agora-contract.md), not as problem+json."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from agora_sandbox import contract as c
from agora_sandbox.openapi import documented_methods


class Reply(Exception):
    """An answer decided before the endpoint's own (unauthorised, injected fault, missing key)."""

    def __init__(self, status: int, body: dict):
        self.status, self.body = status, body


def rejection(status: int, code: str, message: str) -> Reply:
    return Reply(status, c.Rejection(code=code, message=message).model_dump())


async def _reply(request: Request, exc: Reply) -> JSONResponse:
    return JSONResponse(exc.body, status_code=exc.status)


async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    """FastAPI's own refusals (unreadable body, wrong method) in AGORA's shape; a 405 names
    every method of the path."""
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(documented_methods(request))
    code = {400: "unreadable_body", 404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    body = c.Rejection(code=code, message=str(exc.detail)).model_dump()
    return JSONResponse(body, status_code=exc.status_code, headers=headers)


async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
    fields = "; ".join(".".join(map(str, e["loc"])) + ": " + e["msg"] for e in exc.errors())
    return JSONResponse(c.Rejection(code=c.INVALID_PAYLOAD, message=fields).model_dump(), status_code=422)


def install_agora_errors(app: FastAPI) -> None:
    app.add_exception_handler(Reply, _reply)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _invalid)  # type: ignore[arg-type]
