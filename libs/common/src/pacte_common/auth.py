"""OAuth2 bearer JWT per partner system (docs/conventions.md §2.5, docs/security.md).

Tokens are asymmetric JWTs (RS256/ES256…) from an OpenID provider, verified against its JWKS
(key ids, rotation, removal, outages: `_UrlKeys`), with the issuer and this service's own
audience checked. Claims (names are shared settings): `org_kind` (prescriber, training_org,
region, paying_agency) and `org_id` (structure code or SIRET). Missing, expired, badly signed
token, wrong issuer or audience → 401; a valid token without the right → 403 (or 404 where an
object's existence must not leak: the routers decide that per object). Verified tokens are
cached until their exp, and never past their key's removal (hot path).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import httpx
import jwt
from cachetools import TLRUCache, TTLCache
from fastapi import Depends, FastAPI, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from pacte_common.errors import Forbidden, ProblemError, Unauthorized
from pacte_common.settings import DEV_KID_PREFIX, DEVELOPMENT, ServiceSettings

log = logging.getLogger(__name__)


class OrgKind(StrEnum):
    PRESCRIBER = "prescriber"
    TRAINING_ORG = "training_org"
    REGION = "region"
    PAYING_AGENCY = "paying_agency"


@dataclass(frozen=True)
class Principal:
    org_kind: OrgKind
    org_id: str
    subject: str

    @property
    def is_region(self) -> bool:
        return self.org_kind is OrgKind.REGION

    def describe(self) -> str:
        """Who did it, as written in transition logs."""
        return f"{self.org_kind.value}:{self.org_id}"


class TokenIssuerUnavailable(ProblemError):
    """The provider's keys cannot be fetched: the token may be fine, so not a 401."""

    status, slug, title = 503, "token-issuer-unavailable", "The token issuer's keys cannot be fetched"


class _UrlKeys:
    """The provider's jwks_uri, fetched with httpx on the event loop (docs/security.md, "Keys").

    - a known kid is answered from memory: a request whose key is known never waits for a fetch,
      except when the key set is older than `jwt_jwks_cache_s` and the provider is not known to
      be down (the service was idle that long: the bound on a removed key must hold);
    - the set is refreshed in the background once older than half `jwt_jwks_cache_s`, so a key
      removed at the provider is refused within `jwt_jwks_cache_s`;
    - an unknown kid triggers one fetch at once; concurrent requests await the same fetch
      (single flight) and fetches start at most once per `jwt_jwks_min_fetch_interval_s`;
      a kid still unknown after a fetch begun after its request is remembered as unknown
      (`jwt_jwks_unknown_kid_ttl_s`), so made-up kids cost the provider nothing more;
    - a failed fetch is retried not before `jwt_jwks_retry_s` (the 503's `Retry-After`); until
      then the last keys fetched stay in use, for `jwt_jwks_stale_s` at most.
    """

    def __init__(self, settings: ServiceSettings):
        self.settings = settings
        self.url = settings.jwt_jwks_url
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None  # when the last successful fetch started (monotonic)
        self._fetch_started_at = -math.inf
        self._failed_at: float | None = None  # the last failed fetch, None once one succeeds
        self.last_error: str | None = None
        self.fetches = 0
        self._inflight: asyncio.Task | None = None
        self._unknown: TTLCache[str, bool] = TTLCache(
            maxsize=max(settings.jwt_jwks_unknown_kid_cache_size, 1), ttl=settings.jwt_jwks_unknown_kid_ttl_s, timer=time.monotonic
        )

    @property
    def failing(self) -> bool:
        return self._failed_at is not None

    def _age(self, now: float) -> float:
        return math.inf if self._fetched_at is None else now - self._fetched_at

    async def key(self, kid: str) -> jwt.PyJWK:
        settings = self.settings
        arrived = time.monotonic()
        age = self._age(arrived)
        key = self._keys.get(kid)
        if key is not None:
            self._unknown.pop(kid, None)  # published again
        if key is not None and (age < settings.jwt_jwks_cache_s or self.failing):
            if age >= settings.jwt_jwks_cache_s / 2:
                self._refresh_in_background(arrived)
            if age < settings.jwt_jwks_stale_s:
                return key
        if key is None and kid in self._unknown:
            raise _unknown_key(kid)
        if self.failing and not self._may_retry(arrived):
            return self._decide(kid)  # the provider is down: no request waits for it again yet
        await self._refresh()
        if not self.failing and self._fetched_at is not None and self._fetched_at < arrived and kid not in self._keys:
            await self._refresh()  # that fetch began before this request: the kid may be newer
        return self._decide(kid)

    def _decide(self, kid: str) -> jwt.PyJWK:
        """After a fetch (or while the provider is down): the key, or why not."""
        if self._age(time.monotonic()) >= self.settings.jwt_jwks_stale_s:
            raise self.unavailable()
        key = self._keys.get(kid)
        if key is not None:
            return key
        if self.failing:
            raise self.unavailable()  # a new key may be hidden behind the outage: not a 401
        self._unknown[kid] = True
        raise _unknown_key(kid)

    def unavailable(self) -> TokenIssuerUnavailable:
        problem = TokenIssuerUnavailable("The token issuer's keys (JWKS) cannot be fetched; retry later")
        wait = self.settings.jwt_jwks_retry_s
        if self._failed_at is not None:
            wait = self._failed_at + wait - time.monotonic()
        problem.headers["Retry-After"] = str(max(1, math.ceil(wait)))
        return problem

    def _may_retry(self, now: float) -> bool:
        return self._failed_at is None or now - self._failed_at >= self.settings.jwt_jwks_retry_s

    def _refresh_in_background(self, now: float) -> None:
        if self._inflight is None and self._may_retry(now):
            self._start_fetch(delay=0.0)  # at most one per half jwt_jwks_cache_s already

    async def _refresh(self) -> None:
        if self._inflight is None:
            self._start_fetch()
        # shielded: a request that gives up does not cancel the fetch others await
        await asyncio.shield(self._inflight)

    def _start_fetch(self, delay: float | None = None) -> None:
        if delay is None:
            delay = max(0.0, self._fetch_started_at + self.settings.jwt_jwks_min_fetch_interval_s - time.monotonic())
        self._inflight = asyncio.get_running_loop().create_task(self._fetch(delay), name="jwks-fetch")

    async def _fetch(self, delay: float) -> None:
        try:
            if delay:
                await asyncio.sleep(delay)
            started = self._fetch_started_at = time.monotonic()
            self.fetches += 1
            try:
                async with asyncio.timeout(self.settings.jwt_jwks_timeout_s), httpx.AsyncClient() as client:
                    response = await client.get(self.url, headers={"Accept": "application/json"})
                    response.raise_for_status()
                    keys = _parse_jwks(response.json())
            except (TimeoutError, httpx.HTTPError, ValueError, jwt.PyJWKError) as exc:
                self._failed_at = time.monotonic()
                self.last_error = f"{type(exc).__name__}: {exc}".rstrip(": ")
                log.error("cannot fetch the JWKS from %s: %s", self.url, self.last_error)
                return
            for removed in self._keys.keys() - keys.keys():
                self._unknown[removed] = True  # refused from now on without waiting for a fetch
            self._keys, self._fetched_at, self._failed_at, self.last_error = keys, started, None, None
        finally:
            self._inflight = None

    def status(self) -> tuple[dict[str, Any], list[str]]:
        now = time.monotonic()
        age = self._age(now)
        details = {
            "jwks_url": self.url,
            "reachable": not self.failing,
            "keys": len(self._keys),
            "keys_age_s": None if math.isinf(age) else round(age, 1),
            "fetches": self.fetches,
            "last_error": self.last_error,
        }
        problems = []
        if self.failing:
            kept = "none kept" if math.isinf(age) or age >= self.settings.jwt_jwks_stale_s else f"its last keys kept {round(age)} s"
            problems.append(f"token issuer unreachable ({kept}): {self.last_error}")
        return details, problems


def _parse_jwks(document: Any) -> dict[str, jwt.PyJWK]:
    """The signing keys of a JWKS document; keys PyJWT cannot use (other kty, enc) are skipped."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("the JWKS has no 'keys' list")
    keys = {}
    for jwk in document["keys"]:
        if not isinstance(jwk, dict) or not jwk.get("kid") or jwk.get("use", "sig") != "sig":
            continue
        try:
            keys[str(jwk["kid"])] = jwt.PyJWK(jwk)
        except (jwt.PyJWKError, jwt.InvalidKeyError):
            continue
    return keys


def _unknown_key(kid: str) -> Unauthorized:
    return Unauthorized(f"The token is signed by an unknown key (kid {kid!r})")


class _StaticKeys:
    """A JWKS given inline (JSON) or as a file path; a file is re-read when it changes."""

    def __init__(self, source: str):
        self.source = source.strip()
        self.path = None if self.source.startswith("{") else Path(self.source)
        self._mtime: int | None = None
        self._keys: dict[str, jwt.PyJWK] = {}
        self._load()

    def _load(self) -> None:
        if self.path is None:
            text = self.source
        else:
            self._mtime = self.path.stat().st_mtime_ns
            text = self.path.read_text()
        self._keys = _parse_jwks(json.loads(text))

    async def key(self, kid: str) -> jwt.PyJWK:
        if self.path is not None and self.path.stat().st_mtime_ns != self._mtime:
            self._load()  # rotated or a key removed: the file changed
        try:
            return self._keys[kid]
        except KeyError:
            raise _unknown_key(kid) from None

    def status(self) -> tuple[dict[str, Any], list[str]]:
        return {"jwks": "file" if self.path else "inline", "keys": len(self._keys)}, []


class TokenVerifier:
    """Verifies bearer tokens for one service; one per app, shared by its requests."""

    def __init__(self, settings: ServiceSettings):
        self.settings = settings
        self.keys = _UrlKeys(settings) if settings.jwt_jwks_url else _StaticKeys(settings.jwt_jwks)
        self._verified: TLRUCache[str, tuple[Principal, float, str]] = TLRUCache(
            maxsize=max(settings.jwt_token_cache_size, 1), ttu=self._remember_until, timer=time.time
        )

    def _remember_until(self, _token: str, value: tuple[Principal, float, str], now: float) -> float:
        expires_at = value[1]
        return min(expires_at, now + self.settings.jwt_token_cache_s)

    async def verify(self, token: str) -> Principal:
        cached = self._verified.get(token)
        if cached is not None:
            principal, _, kid = cached
            try:
                await self.keys.key(kid)  # a remembered token never outlives its key
            except Unauthorized:
                self._verified.pop(token, None)
                raise
            return principal
        kid = self._checked_kid(token)
        key = await self.keys.key(kid)
        principal, expires_at = self._verified_claims(token, key)
        if self.settings.jwt_token_cache_size and self.settings.jwt_token_cache_s:
            self._verified[token] = (principal, expires_at, kid)
        return principal

    def _checked_kid(self, token: str) -> str:
        settings = self.settings
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise Unauthorized(f"The token is not a JWT: {exc}") from None
        algorithm = header.get("alg")
        if algorithm not in settings.jwt_algorithms:
            raise Unauthorized(f"The token's algorithm {algorithm!r} is not accepted (only {', '.join(settings.jwt_algorithms)})")
        kid = header.get("kid")
        if not kid or not isinstance(kid, str):
            raise Unauthorized("The token names no key id (kid)")
        if settings.environment != DEVELOPMENT and kid.startswith(DEV_KID_PREFIX):
            log.error("refused a token signed by a development key (kid %s) outside development", kid)
            raise Unauthorized("The token is signed by a development key")
        return kid

    def _verified_claims(self, token: str, key: jwt.PyJWK) -> tuple[Principal, float]:
        """The token's principal and its exp (epoch seconds), or Unauthorized."""
        settings = self.settings
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=settings.jwt_algorithms,
                audience=settings.jwt_audience,
                issuer=settings.jwt_issuer,
                leeway=settings.jwt_leeway_s,
                options={"require": ["exp", "iat", "sub", "aud", "iss"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("The token has expired") from None
        except jwt.InvalidAudienceError:
            raise Unauthorized(f"The token is not for this service (audience {settings.jwt_audience!r} expected)") from None
        except jwt.InvalidIssuerError:
            raise Unauthorized("The token comes from another issuer") from None
        except jwt.InvalidTokenError as exc:
            raise Unauthorized(f"The token is not valid: {exc}") from None
        return principal_of(settings, claims), float(claims["exp"])

    def status(self) -> tuple[dict[str, Any], list[str]]:
        return self.keys.status()


def principal_of(settings: ServiceSettings, claims: dict[str, Any]) -> Principal:
    try:
        kind = OrgKind(claims.get(settings.jwt_org_kind_claim))
    except ValueError:
        raise Unauthorized(f"The token names no known organisation kind ({settings.jwt_org_kind_claim})") from None
    org_id = claims.get(settings.jwt_org_id_claim)
    if not org_id and kind is not OrgKind.REGION:
        raise Unauthorized(f"The token names no organisation ({settings.jwt_org_id_claim})")
    return Principal(org_kind=kind, org_id=str(org_id or "region"), subject=str(claims["sub"]))


def token_verifier(app: FastAPI) -> TokenVerifier:
    """The app's verifier, made on first use from its runtime settings."""
    runtime = app.state.runtime
    verifier = getattr(runtime, "token_verifier", None)
    if verifier is None or verifier.settings is not runtime.settings:
        verifier = runtime.token_verifier = TokenVerifier(runtime.settings)
    return verifier


_bearer = HTTPBearer(auto_error=False, description="Partner system JWT from the OpenID provider (`pacte token` mints dev tokens)")


async def current_principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("A bearer token is required")
    return await token_verifier(request.app).verify(credentials.credentials)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_kind(*kinds: OrgKind):
    """Dependency factory: the caller must be one of these organisation kinds, else 403."""

    async def dependency(principal: CurrentPrincipal) -> Principal:
        if principal.org_kind not in kinds:
            raise Forbidden(f"This action is reserved to: {', '.join(k.value for k in kinds)}")
        return principal

    return Depends(dependency)
