"""The operators' console (docs/console.md): server-rendered pages over the four services' APIs.

`create_app()` is the uvicorn factory (`console.main:create_app`), like the services'.
"""

from __future__ import annotations

import logging
import os
import uuid
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlencode

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pacte_common.http import SecurityHeadersMiddleware
from pacte_common.logs import install_redaction
from starlette.middleware.sessions import SessionMiddleware

from console import attendance_pages, imports_pages, pages, person_pages
from console.backend import Backend, ServiceError
from console.security import (
    CsrfRefused,
    NotSignedIn,
    SessionStore,
    csrf_token,
    current_operator,
    sign_out,
)
from console.settings import ConsoleSettings

log = logging.getLogger(__name__)
INSTANCE_ID = os.environ.get("PACTE_INSTANCE_ID") or uuid.uuid4().hex
HERE = Path(__file__).parent

# Everything the page loads comes from the console itself; pygal's SVG carries inline styles.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)


def create_app(settings: ConsoleSettings | None = None) -> FastAPI:
    settings = settings or ConsoleSettings()
    install_redaction()  # NIR and IBAN scrubbed from every log record, as in the services

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        async with httpx.AsyncClient(timeout=settings.request_timeout_s) as client:
            token = settings.observability_token.get_secret_value() if settings.observability_token else None
            app.state.backend = Backend(client, settings.service_urls(), settings.max_parallel_calls, token)
            yield

    app = FastAPI(title="Pacte — operators' console", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.state.sessions = SessionStore(settings.session_idle_s, settings.session_max_age_s, settings.max_sessions)
    templates = Jinja2Templates(directory=HERE / "templates")
    templates.env.globals.update(csrf_token=csrf_token, current_operator=current_operator, dev_sign_in=settings.dev_sign_in, urlencode=urlencode)
    app.state.templates = templates

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    # nosniff, no framing, HSTS by setting; no-store on every page and export (they may show
    # personal data), the static assets excepted
    app.add_middleware(
        SecurityHeadersMiddleware, hsts_max_age_s=settings.hsts_max_age_s, private=lambda scope: not scope["path"].startswith("/static/")
    )

    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.session_secret.get_secret_value(),
        session_cookie=settings.session_cookie,
        max_age=settings.session_max_age_s,
        same_site="strict",
        https_only=settings.cookie_https_only,
    )

    @app.exception_handler(NotSignedIn)
    async def not_signed_in(request: Request, exc: NotSignedIn):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/sign-in?{urlencode({'next': target})}", status_code=303)

    @app.exception_handler(CsrfRefused)
    async def csrf_refused(request: Request, exc: CsrfRefused):
        return templates.TemplateResponse(
            request, "error.html",
            {"title": "Form refused", "message": "This form was not sent by the console page that showed it, or that page is out of date "
             "(CSRF check). Reload the page and try again."},
            status_code=403,
        )

    @app.exception_handler(pages.BadFilter)
    async def bad_filter(request: Request, exc: pages.BadFilter):
        return templates.TemplateResponse(request, "error.html", {"title": "Invalid filter", "message": str(exc)}, status_code=422)

    @app.exception_handler(ServiceError)
    async def service_error(request: Request, exc: ServiceError):
        if exc.unauthorised:
            sign_out(request)
            pages.flash(request, "error", f"The {exc.service} service refused the token ({exc.detail or exc.title}): sign in again.")
            return RedirectResponse("/sign-in", status_code=303)
        status = exc.status if exc.status in (403, 404, 409, 412, 422) else 502
        log.warning("service error on %s: %s", request.url.path, exc)
        return templates.TemplateResponse(
            request, "error.html", {"title": exc.title, "message": str(exc), "service_error": exc}, status_code=status
        )

    @app.get("/health/live", include_in_schema=False)
    async def live() -> dict:
        # pid and instance id: `pacte up` checks readiness against the very process it started
        return {"status": "ok", "service": settings.service_name, "pid": os.getpid(), "instance_id": INSTANCE_ID}

    @app.get("/", include_in_schema=False)
    async def home() -> Response:
        return RedirectResponse("/indicators", status_code=303)

    @app.get("/docs", include_in_schema=False)
    async def docs() -> Response:
        # `pacte up` lists each service's /docs; the console's pages are its documentation.
        return RedirectResponse("/indicators", status_code=303)

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> Response:
        return Response((HERE / "static" / "favicon.svg").read_bytes(), media_type="image/svg+xml")

    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(pages.router)
    app.include_router(attendance_pages.router)
    app.include_router(imports_pages.router)
    app.include_router(person_pages.router)
    app.add_api_route("/health/ready", live, include_in_schema=False)
    return app

