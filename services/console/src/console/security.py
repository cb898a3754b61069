"""Sign-in, server-side sessions and CSRF.

The operator's bearer token is kept **server-side** (`SessionStore`, in the console's memory):
the session cookie (signed with itsdangerous by Starlette's SessionMiddleware: HTTP-only,
SameSite=strict) carries only a random session id and the CSRF token, so the token can never
be read from the cookie, and a cookie saved before sign-out is worth nothing afterwards.
A session ends at sign-out, after `session_idle_s` without a request, and `session_max_age_s`
after sign-in, whichever comes first (docs/security.md, "Console sessions"). A console restart
ends every session. The console never checks the token's signature itself: every service
does, on every call; the console only reads its claims to say who is signed in and which
pages apply.

CSRF: the synchronizer-token pattern. The session holds a random token; every form that
changes state carries it in a hidden field and the POST is refused (403) without the same
value. SameSite=strict already keeps the cookie off cross-site requests: the token is the
second lock, and the one that also covers the sign-in form (login CSRF).
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass

import httpx
import jwt
from fastapi import Request
from pacte_common.auth import OrgKind
from pacte_common.settings import TokenClaimSettings

CSRF_FIELD = "csrf_token"
SESSION_KEY = "sid"


@dataclass
class _Session:
    token: str
    opened_at: float
    seen_at: float


class SessionStore:
    """The signed-in operators' tokens by session id; the cookie holds only the id."""

    def __init__(self, idle_s: float, max_age_s: float, max_sessions: int):
        self.idle_s, self.max_age_s, self.max_sessions = idle_s, max_age_s, max_sessions
        self._sessions: dict[str, _Session] = {}

    def open(self, token: str) -> str:
        now = time.monotonic()
        self._purge(now)
        while len(self._sessions) >= self.max_sessions:  # bounded memory: the oldest goes first
            del self._sessions[next(iter(self._sessions))]
        session_id = secrets.token_urlsafe(32)
        self._sessions[session_id] = _Session(token, now, now)
        return session_id

    def token(self, session_id: str | None) -> str | None:
        """The session's token, its idle clock reset; None once it ended."""
        session = self._sessions.get(session_id or "")
        if session is None:
            return None
        now = time.monotonic()
        if self._expired(session, now):
            del self._sessions[session_id]
            return None
        session.seen_at = now
        return session.token

    def close(self, session_id: str | None) -> None:
        self._sessions.pop(session_id or "", None)

    def __len__(self) -> int:
        return len(self._sessions)

    def _expired(self, session: _Session, now: float) -> bool:
        return now - session.seen_at >= self.idle_s or now - session.opened_at >= self.max_age_s

    def _purge(self, now: float) -> None:
        for session_id in [sid for sid, session in self._sessions.items() if self._expired(session, now)]:
            del self._sessions[session_id]


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


def _store(request: Request) -> SessionStore:
    return request.app.state.sessions


def current_operator(request: Request) -> Operator | None:
    cached = request.scope.get("console.operator", False)
    if cached is not False:  # pages and their template both ask: one look-up per request
        return cached
    operator = None
    token = _store(request).token(request.session.get(SESSION_KEY))
    if token:
        try:
            operator = operator_of(token, request.app.state.settings)
        except ValueError:
            sign_out(request)
    elif SESSION_KEY in request.session:
        request.session.pop(SESSION_KEY)  # ended (signed out, idle, too old): the cookie says so too
    request.scope["console.operator"] = operator
    return operator


def require_operator(request: Request) -> Operator:
    operator = current_operator(request)
    if operator is None:
        raise NotSignedIn()
    return operator


def sign_in(request: Request, token: str) -> None:
    operator_of(token, request.app.state.settings)
    _store(request).close(request.session.get(SESSION_KEY))
    request.session.clear()  # a new session: a new id and a new CSRF token too
    request.session[SESSION_KEY] = _store(request).open(token)
    request.scope.pop("console.operator", None)
    csrf_token(request)


def sign_out(request: Request) -> None:
    """Ends the session at once: its id is forgotten server-side, whatever cookie is replayed."""
    _store(request).close(request.session.get(SESSION_KEY))
    request.session.clear()
    request.scope["console.operator"] = None


def dev_region_token(issuer_url: str, services: Iterable[str], attempts: int = 3) -> str:
    """A Region token from the embedded default's development issuer, asked as a partner asks its
    OpenID provider (client credentials), for the services the console calls. Development only:
    the issuer exists nowhere else, and the console offers this only when `dev_sign_in` is on."""
    form = {"grant_type": "client_credentials", "org_kind": OrgKind.REGION.value, "org_id": "region",
            "audience": " ".join(services)}
    for attempt in range(1, attempts + 1):
        try:
            response = httpx.post(f"{issuer_url}/token", data=form, timeout=10)
            response.raise_for_status()
            return response.json()["access_token"]
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
