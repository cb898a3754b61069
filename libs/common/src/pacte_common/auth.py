"""OAuth2 bearer JWT per partner system (DESIGN.md §5, docs/security.md).

Tokens are asymmetric JWTs (RS256/ES256…) from an OpenID provider, verified against its JWKS
(key ids, rotation), with the issuer and this service's own audience checked. Claims:
`org_kind` (prescriber, training_org, region, paying_agency) and `org_id` (structure code or
SIRET). Missing, expired, badly signed token, wrong issuer or audience → 401; a valid token
without the right → 403 (or 404 where an object's existence must not leak: the routers
decide that per object). Verified tokens are cached until their exp (hot path).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import jwt
from cachetools import TLRUCache
from fastapi import Depends, FastAPI, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from pacte_common.errors import Forbidden, ProblemError, Unauthorized
from pacte_common.settings import DEVELOPMENT, ServiceSettings

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
    """The provider's jwks_uri, through PyJWKClient (cached set, refetched on an unknown kid)."""

    blocking = True  # may fetch over the network: called off the event loop

    def __init__(self, settings: ServiceSettings):
        self.client = jwt.PyJWKClient(
            settings.jwt_jwks_url,
            cache_jwk_set=True,
            lifespan=settings.jwt_jwks_cache_s,
            cooldown_duration=settings.jwt_jwks_refresh_cooldown_s,
            timeout=settings.jwt_jwks_timeout_s,
        )

    def key(self, kid: str) -> jwt.PyJWK:
        try:
            return self.client.get_signing_key(kid)
        except jwt.PyJWKClientConnectionError as exc:
            log.error("cannot fetch the JWKS from %s: %s", self.client.uri, exc)
            raise TokenIssuerUnavailable("The token issuer's keys (JWKS) cannot be fetched; retry later") from None
        except jwt.PyJWKClientError:
            raise Unauthorized(f"The token is signed by an unknown key (kid {kid!r})") from None


class _StaticKeys:
    """A JWKS given inline (JSON) or as a file path; a file is re-read when it changes."""

    blocking = False

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
        jwks = jwt.PyJWKSet.from_dict(json.loads(text))
        self._keys = {key.key_id: key for key in jwks.keys if key.key_id}

    def key(self, kid: str) -> jwt.PyJWK:
        if kid not in self._keys and self.path is not None and self.path.stat().st_mtime_ns != self._mtime:
            self._load()  # rotated: the file has a new key
        try:
            return self._keys[kid]
        except KeyError:
            raise Unauthorized(f"The token is signed by an unknown key (kid {kid!r})") from None


class TokenVerifier:
    """Verifies bearer tokens for one service; one per app, shared by its requests."""

    def __init__(self, settings: ServiceSettings):
        self.settings = settings
        self.keys = _UrlKeys(settings) if settings.jwt_jwks_url else _StaticKeys(settings.jwt_jwks)
        self._verified: TLRUCache[str, tuple[Principal, float]] = TLRUCache(
            maxsize=max(settings.jwt_token_cache_size, 1), ttu=self._remember_until, timer=time.time
        )

    def _remember_until(self, _token: str, value: tuple[Principal, float], now: float) -> float:
        expires_at = value[1]
        return min(expires_at, now + self.settings.jwt_token_cache_s)

    async def verify(self, token: str) -> Principal:
        cached = self._verified.get(token)
        if cached is not None:
            return cached[0]
        if self.keys.blocking:
            principal, expires_at = await asyncio.to_thread(self.verify_now, token)
        else:
            principal, expires_at = self.verify_now(token)
        if self.settings.jwt_token_cache_size and self.settings.jwt_token_cache_s:
            self._verified[token] = (principal, expires_at)
        return principal

    def verify_now(self, token: str) -> tuple[Principal, float]:
        """The token's principal and its exp (epoch seconds), or Unauthorized."""
        settings = self.settings
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise Unauthorized(f"The token is not a JWT: {exc}") from None
        algorithm = header.get("alg")
        if algorithm not in settings.jwt_algorithms:
            raise Unauthorized(f"The token's algorithm {algorithm!r} is not accepted (only {', '.join(settings.jwt_algorithms)})")
        kid = header.get("kid")
        if not kid:
            raise Unauthorized("The token names no key id (kid)")
        if settings.environment != DEVELOPMENT and str(kid).startswith(_dev_kid_prefix()):
            log.error("refused a token signed by a development key (kid %s) outside development", kid)
            raise Unauthorized("The token is signed by a development key")
        key = self.keys.key(str(kid))
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


def principal_of(settings: ServiceSettings, claims: dict[str, Any]) -> Principal:
    try:
        kind = OrgKind(claims.get(settings.jwt_org_kind_claim))
    except ValueError:
        raise Unauthorized(f"The token names no known organisation kind ({settings.jwt_org_kind_claim})") from None
    org_id = claims.get(settings.jwt_org_id_claim)
    if not org_id and kind is not OrgKind.REGION:
        raise Unauthorized(f"The token names no organisation ({settings.jwt_org_id_claim})")
    return Principal(org_kind=kind, org_id=str(org_id or "region"), subject=str(claims["sub"]))


def _dev_kid_prefix() -> str:
    from pacte_common.dev_issuer import DEV_KID_PREFIX

    return DEV_KID_PREFIX


def token_verifier(app: FastAPI) -> TokenVerifier:
    """The app's verifier, made on first use from its runtime settings."""
    settings = app.state.runtime.settings
    verifier = getattr(app.state, "token_verifier", None)
    if verifier is None or verifier.settings is not settings:
        verifier = app.state.token_verifier = TokenVerifier(settings)
    return verifier


def mint_token(
    settings: ServiceSettings,
    kind: OrgKind | str,
    org: str,
    ttl: timedelta = timedelta(hours=12),
    *,
    audience: str | None = None,
    claims: dict[str, Any] | None = None,
) -> str:
    """A token for `settings`' service signed by the development issuer's key (development and tests only).

    The key is the dev issuer's (`PACTE_DEV_ISSUER_KEYS_DIR`, `.data/dev-issuer` by default; the
    tests point it at their own key, whose JWKS their apps trust). `claims` override or add claims.
    """
    from pacte_common.dev_issuer import (
        DevIssuerSettings,
        DevKeyStore,
        refuse_outside_development,
        token_claims,
    )

    refuse_outside_development(settings.environment)
    store = DevKeyStore.open(DevIssuerSettings(environment=settings.environment))
    body = token_claims(settings.jwt_issuer, [audience or settings.jwt_audience], OrgKind(kind).value, org, ttl, claims)
    return store.sign(body)


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
