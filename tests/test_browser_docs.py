"""`/docs` and `/redoc` render offline (docs/openapi.md): headless Chromium on the running suite,
every request not to 127.0.0.1 blocked, each service's Swagger UI shows every operation of
its OpenAPI document and takes a pasted bearer token; ReDoc renders the operations too.

Needs a Chromium binary (Debian's `chromium` package; PACTE_TEST_CHROMIUM to point elsewhere).
Playwright drives it; no browser is downloaded (`playwright install` is never run).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from pacte_tools.suite import SERVICES

CHROMIUM = os.environ.get("PACTE_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
RENDER_DEADLINE_MS = 60_000
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "options", "head", "trace"}
# Services with an OpenAPI interface (the console is a web page of its own, without one).
API_SERVICES = [spec.name for spec in SERVICES if spec.name != "console"]


@pytest.fixture(scope="module")
def browser(suite) -> Iterator:
    # The suite first: Playwright's sync API runs an event loop in this thread, where the
    # suite's start (asyncio.run) could no longer run.
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: install Debian's `chromium` package "
            "(apt-get install chromium) or set PACTE_TEST_CHROMIUM to a Chromium binary",
            pytrace=False,
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()


class OfflinePage:
    """A browser page that may only reach 127.0.0.1; every other request is recorded and aborted."""

    def __init__(self, browser):
        self.context = browser.new_context()
        self.page = self.context.new_page()
        self.page.set_default_timeout(RENDER_DEADLINE_MS)
        self.blocked: list[str] = []
        self.served: list[str] = []
        self.page.route("**/*", self._route)

    def _route(self, route) -> None:
        url = route.request.url
        if urlsplit(url).hostname == "127.0.0.1":
            self.served.append(url)
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort()

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def offline_page(browser) -> Iterator[OfflinePage]:
    page = OfflinePage(browser)
    try:
        yield page
    finally:
        page.close()


def operation_count(document: dict) -> int:
    return sum(1 for item in document["paths"].values() for method in item if method in HTTP_METHODS)


@pytest.mark.parametrize("service", API_SERVICES)
def test_swagger_ui_renders_every_operation_offline_and_takes_a_pasted_token(suite, offline_page, service):
    base = suite.url(service)
    document = httpx.get(f"{base}/openapi.json", timeout=30).json()
    expected = operation_count(document)
    assert expected > 0

    page = offline_page.page
    page.goto(f"{base}/docs")
    page.wait_for_selector(".opblock")
    page.wait_for_function(f"document.querySelectorAll('.opblock').length >= {expected}")
    assert page.locator(".opblock").count() == expected
    assert page.locator(".info .title").inner_text().startswith(document["info"]["title"])
    assert any("/docs-assets/swagger-ui-bundle.js" in url for url in offline_page.served)
    assert offline_page.blocked == [], f"/docs of {service} reached outside 127.0.0.1: {offline_page.blocked}"

    schemes = document.get("components", {}).get("securitySchemes", {})
    bearer = [name for name, scheme in schemes.items() if scheme.get("type") == "http" and scheme.get("scheme") == "bearer"]
    if not bearer:
        return  # a service without a bearer scheme (the sandbox keeps its own) has nothing to paste
    token = "eyJhbGciOiJSUzI1NiJ9.pasted.token"  # what an operator pastes; the page only keeps it
    page.locator("button.authorize").first.click()
    dialog = page.locator(".dialog-ux .modal-ux")
    dialog.locator("input").first.fill(token)
    dialog.locator("button.authorize").first.click()
    dialog.locator("button.btn-done").first.click()
    authorized = page.evaluate("() => ui.authSelectors.authorized().toJS()")
    assert authorized[bearer[0]]["value"] == token


@pytest.mark.parametrize("service", API_SERVICES)
def test_redoc_renders_the_operations_offline(suite, offline_page, service):
    base = suite.url(service)
    document = httpx.get(f"{base}/openapi.json", timeout=30).json()
    first_summary = next(
        operation["summary"]
        for item in document["paths"].values()
        for method, operation in item.items()
        if method in HTTP_METHODS and operation.get("summary")
    )
    page = offline_page.page
    page.goto(f"{base}/redoc")
    page.wait_for_selector("[data-section-id^='operation/'], [data-section-id*='/operation/']")
    assert page.get_by_text(first_summary).count() >= 1
    assert offline_page.blocked == [], f"/redoc of {service} reached outside 127.0.0.1: {offline_page.blocked}"
