"""`/docs` (Swagger UI) and `/redoc` (ReDoc) served from the service itself, never from a CDN.

The operators' interface must work on a machine without internet (issue 16.5): the assets
come from the pinned `fastapi-offline` distribution (Swagger UI bundle, its CSS, ReDoc
standalone) and are served under `/docs-assets`. Swagger UI opens with the bearer scheme of
`pacte_common.auth` (button *Authorize*, paste a token from `pacte token`), keeps the pasted
token across reloads and shows each operation's duration.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.routing import Route

ASSETS_PATH = "/docs-assets"
ASSETS_DIRECTORY = Path(fastapi_offline.__file__).parent / "static"
REDOC_SCRIPT = "redoc.standalone.js"
# The only address outside the service that ReDoc's bundle loads (its side-menu logo).
REDOC_CDN_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"
SWAGGER_UI_PARAMETERS = {
    "persistAuthorization": True,
    "displayRequestDuration": True,
    "tryItOutEnabled": False,
    "defaultModelsExpandDepth": 0,
}


def install_offline_docs(app: FastAPI) -> None:
    """Replace FastAPI's CDN-backed `/docs` and `/redoc` with pages using the packaged assets."""
    docs_url, redoc_url = app.docs_url or "/docs", app.redoc_url or "/redoc"
    redirect_url = app.swagger_ui_oauth2_redirect_url or "/docs/oauth2-redirect"
    replaced = {docs_url, redoc_url, redirect_url}
    app.router.routes[:] = [r for r in app.router.routes if not (isinstance(r, Route) and r.path in replaced)]
    app.docs_url, app.redoc_url = docs_url, redoc_url
    @app.get(f"{ASSETS_PATH}/{REDOC_SCRIPT}", include_in_schema=False)
    async def redoc_script() -> Response:
        return Response(_offline_redoc_script(), media_type="text/javascript")

    app.mount(ASSETS_PATH, StaticFiles(directory=ASSETS_DIRECTORY), name="docs-assets")

    def assets(request: Request) -> str:
        return f"{request.scope.get('root_path', '')}{ASSETS_PATH}"

    @app.get(docs_url, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} — Swagger UI",
            oauth2_redirect_url=f"{root}{redirect_url}",
            swagger_js_url=f"{assets(request)}/swagger-ui-bundle.js",
            swagger_css_url=f"{assets(request)}/swagger-ui.css",
            swagger_favicon_url=f"{assets(request)}/favicon.png",
            swagger_ui_parameters={**SWAGGER_UI_PARAMETERS, **(app.swagger_ui_parameters or {})},
        )

    @app.get(redirect_url, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get(redoc_url, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        return get_redoc_html(
            openapi_url=f"{request.scope.get('root_path', '')}{app.openapi_url}",
            title=f"{app.title} — ReDoc",
            redoc_js_url=f"{assets(request)}/{REDOC_SCRIPT}",
            redoc_favicon_url=f"{assets(request)}/favicon.png",
            with_google_fonts=False,
        )


@cache
def _offline_redoc_script() -> str:
    """ReDoc's bundle with its CDN logo pointed at the packaged favicon: nothing leaves the host."""
    script = (ASSETS_DIRECTORY / REDOC_SCRIPT).read_text(encoding="utf-8")
    return script.replace(REDOC_CDN_LOGO, f"{ASSETS_PATH}/favicon.png")
