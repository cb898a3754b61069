"""Sign-in and CSRF.

The operator's bearer token is kept in the session (a cookie signed with itsdangerous by
Starlette's SessionMiddleware: HTTP-only, SameSite=strict). The console never checks the
token's signature itself: every service does, on every call; the console only reads its
claims to say who is signed in and which pages apply.

CSRF: the synchronizer-token pattern. The session holds a random token; every form that
changes state carries it in a hidden field and the POST is refused (403) without the same
value. SameSite=strict already keeps the cookie off cross-site requests: the token is the
second lock, and the one that also covers the sign-in form (login CSRF).
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

import httpx
import jwt
from fastapi import Request
from pacte_common.auth import OrgKind
from pacte_common.settings import TokenClaimSettings

CSRF_FIELD = "csrf_token"
TOKEN_KEY = "token"


@dataclass(frozen=True)
class Operator:
    token: str
    org_kind: str
    org_id: str

    @property
    def is_region(self) -> bool:
        return self.org_kind == OrgKind.REGION.value

    @property
    def label(self) -> str:
        return "Région Pays de la Loire" if self.is_region else f"{self.org_kind} {self.org_id}"


class NotSignedIn(Exception):
    """Raised by pages that need an operator; answered by a redirect to the sign-in form."""


class CsrfRefused(Exception):
    """A state-changing form came without the session's CSRF token."""


def operator_of(token: str, names: TokenClaimSettings) -> Operator:
    """Who the token names, read unverified (the services verify it) under the deployment's claim
    names, the same settings as the services'; ValueError if it is no JWT or names no one."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError as exc:
        raise ValueError(f"this is not a bearer token (JWT): {exc}") from None
    kind = claims.get(names.jwt_org_kind_claim)
    if kind not in {k.value for k in OrgKind}:
        raise ValueError(f"the token names no known organisation kind ({names.jwt_org_kind_claim})")
    return Operator(token=token, org_kind=kind, org_id=str(claims.get(names.jwt_org_id_claim) or "region"))


def current_operator(request: Request) -> Operator | None:
    token = request.session.get(TOKEN_KEY)
    if not token:
        return None
    try:
        return operator_of(token, request.app.state.settings)
    except ValueError:
        request.session.pop(TOKEN_KEY, None)
        return None


def require_operator(request: Request) -> Operator:
    operator = current_operator(request)
    if operator is None:
        raise NotSignedIn()
    return operator


def sign_in(request: Request, token: str) -> None:
    operator_of(token, request.app.state.settings)
    request.session.clear()  # a new session: a new CSRF token too
    request.session[TOKEN_KEY] = token
    csrf_token(request)


def sign_out(request: Request) -> None:
    request.session.clear()


def dev_region_token(issuer_url: str, services: Iterable[str], attempts: int = 3) -> str:
    """A Region token from the embedded default's development issuer, asked as a partner asks its
    OpenID provider (client credentials), for the services the console calls. Development only:
    the issuer exists nowhere else, and the console offers this only when `dev_sign_in` is on."""
    from pacte_common.dev_issuer import request_token  # development only: imported when used

    for attempt in range(1, attempts + 1):
        try:
            return request_token(issuer_url, OrgKind.REGION.value, "region", audiences=list(services))
        except httpx.TimeoutException:  # a busy developer machine: ask again before giving up
            if attempt == attempts:
                raise
    raise AssertionError("unreachable")


def csrf_token(request: Request) -> str:
    token = request.session.get(CSRF_FIELD)
    if not token:
        token = request.session[CSRF_FIELD] = secrets.token_urlsafe(32)
    return token


async def check_csrf(request: Request) -> None:
    """Dependency of every state-changing route: the form's hidden token must match the session's."""
    expected = request.session.get(CSRF_FIELD)
    form = await request.form()
    given = form.get(CSRF_FIELD)
    if not expected or not isinstance(given, str) or not hmac.compare_digest(expected, given):
        raise CsrfRefused()
