"""The console's own rules, over HTTP (ASGI), without the suite: the session cookie, CSRF,
redirects that stay local, the security headers and the settings' refusals.

Sync tests on Starlette's TestClient (its own event loop thread): they run in the same
session as the browser tests, whose Playwright sync API holds this thread's loop."""

from __future__ import annotations

import re

import jwt
import pytest
from console.main import create_app
from console.settings import ConsoleSettings
from fastapi.testclient import TestClient
from pydantic import SecretStr, ValidationError


def settings(**overrides) -> ConsoleSettings:
    # no service behind these URLs: these tests never reach a page that reads one
    return ConsoleSettings(**{"environment": "development", "dev_sign_in": True, **overrides})


def claims_token(kind: str, org: str) -> str:
    """A JWT with the claims the console reads; the console never verifies it (the services do)."""
    return jwt.encode({"org_kind": kind, "org_id": org, "sub": f"{kind}:{org}"}, "any-key-the-console-never-checks", algorithm="HS256")


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_the_session_cookie_is_signed_http_only_and_same_site_strict():
    with TestClient(create_app(settings()), follow_redirects=False) as client:
        form = client.get("/sign-in")
        cookie = form.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        signed_in = client.post("/sign-in", data={"csrf_token": csrf_of(form.text), "token": claims_token("training_org", "73282932000074"), "next": "/sign-in"})
        assert signed_in.status_code == 303 and signed_in.headers["location"] == "/sign-in"
        page = client.get("/sign-in")
        assert "training_org 73282932000074" in page.text

        # a cookie altered by hand is not a session: signed out
        name, value = next(iter(client.cookies.items()))
        client.cookies.set(name, value[:-4] + ("AAAA" if not value.endswith("AAAA") else "BBBB"))
        again = client.get("/pay")
        assert again.status_code == 303 and again.headers["location"].startswith("/sign-in?next=")


def test_a_state_changing_form_without_its_csrf_token_is_refused():
    with TestClient(create_app(settings()), follow_redirects=False) as client:
        form = client.get("/sign-in")
        for data in ({"token": claims_token("region", "region")}, {"token": claims_token("region", "region"), "csrf_token": "forged"}):
            refused = client.post("/sign-in", data=data)
            assert refused.status_code == 403 and "CSRF" in refused.text
        assert (client.post("/sign-in/dev", data={})).status_code == 403
        # the token the page gave goes through
        ok = client.post("/sign-in", data={"csrf_token": csrf_of(form.text), "token": claims_token("region", "region")})
        assert ok.status_code == 303
        assert (client.post("/sign-out", data={})).status_code == 403, "signing out is a form too"


def test_sign_in_refuses_what_is_not_a_token_and_never_redirects_elsewhere():
    with TestClient(create_app(settings()), follow_redirects=False) as client:
        csrf = csrf_of((client.get("/sign-in")).text)
        refused = client.post("/sign-in", data={"csrf_token": csrf, "token": "not a token"})
        assert refused.status_code == 422 and "not a bearer token" in refused.text
        no_kind = client.post("/sign-in", data={"csrf_token": csrf, "token": jwt.encode({"sub": "x"}, "any-key-the-console-never-checks", algorithm="HS256")})
        assert no_kind.status_code == 422 and "org_kind" in no_kind.text
        for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
            csrf = csrf_of((client.get("/sign-in")).text)
            answer = client.post("/sign-in", data={"csrf_token": csrf, "token": claims_token("region", "region"), "next": target})
            assert answer.status_code == 303 and answer.headers["location"] == "/indicators", target


def test_pages_say_where_their_content_may_come_from():
    with TestClient(create_app(settings()), follow_redirects=False) as client:
        page = client.get("/sign-in")
        policy = page.headers["content-security-policy"]
        assert "default-src 'self'" in policy and "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert page.headers["x-content-type-options"] == "nosniff" and page.headers["x-frame-options"] == "DENY"
        assert page.headers["cache-control"] == "no-store" and "strict-transport-security" not in page.headers
        assert client.get("/health/live").headers["x-frame-options"] == "DENY"
        for asset in re.findall(r'(?:href|src)="(/static/[^"]+)"', page.text):
            answer = client.get(asset)
            assert answer.status_code == 200 and answer.headers["x-content-type-options"] == "nosniff", asset
            assert answer.headers.get("cache-control") != "no-store", "static assets may be cached"
        assert not re.search(r'(?:href|src)="https?://', page.text), "nothing is fetched from elsewhere"
    with TestClient(create_app(settings(hsts_max_age_s=600)), follow_redirects=False) as client:
        assert client.get("/sign-in").headers["strict-transport-security"] == "max-age=600; includeSubDomains"


def test_the_console_logs_are_scrubbed_like_the_services(caplog):
    import logging

    create_app(settings())
    with caplog.at_level(logging.INFO):
        logging.getLogger("console.pages").warning("service error for 185054410912314 paid to FR7630006000011234567890189")
    assert "185054410912314" not in caplog.text and "FR7630006000011234567890189" not in caplog.text
    assert "[NIR]" in caplog.text and "[IBAN]" in caplog.text


def test_the_development_sign_in_exists_only_in_development():
    with TestClient(create_app(settings(dev_sign_in=False)), follow_redirects=False) as client:
        page = client.get("/sign-in")
        assert "Sign in as the Region" not in page.text
        answer = client.post("/sign-in/dev", data={"csrf_token": csrf_of(page.text)})
        assert answer.status_code == 404
    with pytest.raises(ValidationError, match="session_secret"):
        ConsoleSettings(environment="production", dev_sign_in=False)
    with pytest.raises(ValidationError, match="dev_sign_in"):
        ConsoleSettings(environment="production", dev_sign_in=True, session_secret=SecretStr("a-real-secret"))
    assert ConsoleSettings(environment="production", dev_sign_in=False, session_secret=SecretStr("a-real-secret")).port == 8006


def test_the_console_reads_the_claim_names_the_services_are_configured_with(monkeypatch):
    monkeypatch.setenv("PACTE_JWT_ORG_KIND_CLAIM", "partner_kind")
    monkeypatch.setenv("PACTE_JWT_ORG_ID_CLAIM", "partner_id")
    with TestClient(create_app(settings()), follow_redirects=False) as client:
        csrf = csrf_of(client.get("/sign-in").text)
        legacy = client.post("/sign-in", data={"csrf_token": csrf, "token": claims_token("training_org", "73282932000074")})
        assert legacy.status_code == 422 and "partner_kind" in legacy.text
        token = jwt.encode({"partner_kind": "training_org", "partner_id": "73282932000074", "sub": "x"}, "any-key-the-console-never-checks", algorithm="HS256")
        signed_in = client.post("/sign-in", data={"csrf_token": csrf_of(legacy.text), "token": token, "next": "/sign-in"})
        assert signed_in.status_code == 303
        assert "training_org 73282932000074" in client.get("/sign-in").text


def test_a_figure_exported_as_csv_carries_no_formula():
    from console.figures import Figure

    figure = Figure(id="compare", title="By territory", columns=["territory", "entries"], rows=[["=1+2", 3], ["@SUM(1+1)", -1], ["T-44", None]])
    assert figure.csv() == "territory,entries\r\n'=1+2,3\r\n'@SUM(1+1),-1\r\nT-44,\r\n"


def test_a_month_in_full_width_digits_is_a_422_naming_it_not_a_500():
    with TestClient(create_app(settings()), follow_redirects=False) as client:
        csrf = csrf_of(client.get("/sign-in").text)
        assert client.post("/sign-in", data={"csrf_token": csrf, "token": claims_token("paying_agency", "ASP")}).status_code == 303
        for path in ("/pay/２０２１-05/batch.csv", "/pay/2021-０５/batch.csv", "/pay/2021-5/batch.csv"):
            answer = client.get(path)
            assert answer.status_code == 422 and "is not a month (YYYY-MM)" in answer.text, path


def _cookie_payload(client: TestClient) -> str:
    """What anyone holding the cookie can read: its signed but not encrypted base64 payload."""
    import base64

    value = next(iter(client.cookies.values())).split(".")[0]
    return base64.b64decode(value + "=" * (-len(value) % 4)).decode()


def test_the_session_is_server_side_and_sign_out_ends_it_whatever_cookie_is_replayed():
    app = create_app(settings())
    token = claims_token("region", "region")
    with TestClient(app, follow_redirects=False) as client:
        csrf = csrf_of(client.get("/sign-in").text)
        assert client.post("/sign-in", data={"csrf_token": csrf, "token": token}).status_code == 303
        payload = _cookie_payload(client)
        assert token not in payload and "eyJ" not in payload and "sid" in payload, "the bearer token is never in the cookie"
        saved = dict(client.cookies.items())
        page = client.get("/sign-in")
        assert "Région Pays de la Loire" in page.text
        assert client.post("/sign-out", data={"csrf_token": csrf_of(page.text)}).status_code == 303
        assert len(app.state.sessions) == 0
        client.cookies.clear()
        for name, value in saved.items():
            client.cookies.set(name, value)  # the cookie saved before sign-out, replayed
        replayed = client.get("/pay")
        assert replayed.status_code == 303 and replayed.headers["location"].startswith("/sign-in?next=")


def test_an_idle_session_ends_and_so_does_an_old_one():
    import time

    with TestClient(create_app(settings(session_idle_s=0.3)), follow_redirects=False) as client:
        csrf = csrf_of(client.get("/sign-in").text)
        client.post("/sign-in", data={"csrf_token": csrf, "token": claims_token("region", "region")})
        assert "Région Pays de la Loire" in client.get("/sign-in").text
        time.sleep(0.35)
        assert client.get("/pay").headers["location"].startswith("/sign-in?next="), "idle past session_idle_s"
    with TestClient(create_app(settings(session_idle_s=60, session_max_age_s=1)), follow_redirects=False) as client:
        csrf = csrf_of(client.get("/sign-in").text)
        client.post("/sign-in", data={"csrf_token": csrf, "token": claims_token("region", "region")})
        for _ in range(3):  # busy, but not past session_max_age_s from sign-in
            assert "Région Pays de la Loire" in client.get("/sign-in").text
            time.sleep(0.35)
        assert client.get("/pay").headers["location"].startswith("/sign-in?next=")


def test_a_real_providers_token_signs_in_under_the_deployments_claim_names(tmp_path):
    """A Region token from a real OpenID provider (node oidc-provider, claims named `pacte_org_kind`
    / `pacte_org_id`, audience a URI) signs in when the console has the deployment's claim names,
    and is refused, naming the claim, when it has the defaults."""
    from pacte_testing.oidc import (
        CLIENTS,
        ID_CLAIM,
        KIND_CLAIM,
        provider_installed,
        started_provider,
    )

    if (missing := provider_installed()) is not None:
        pytest.fail(missing)
    provider = started_provider(tmp_path)
    try:
        token = provider.token(CLIENTS[2], resource="https://pacte.test/console")
    finally:
        provider.stop()
    configured = settings(jwt_org_kind_claim=KIND_CLAIM, jwt_org_id_claim=ID_CLAIM)
    with TestClient(create_app(configured), follow_redirects=False) as client:
        form = client.get("/sign-in")
        signed_in = client.post("/sign-in", data={"csrf_token": csrf_of(form.text), "token": token, "next": "/sign-in"})
        assert signed_in.status_code == 303
        assert "Région Pays de la Loire" in client.get("/sign-in").text
    with TestClient(create_app(settings()), follow_redirects=False) as client:
        form = client.get("/sign-in")
        refused = client.post("/sign-in", data={"csrf_token": csrf_of(form.text), "token": token})
        assert refused.status_code != 303 and "org_kind" in refused.text
