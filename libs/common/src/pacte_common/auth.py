"""OAuth2 bearer JWT per partner system (DESIGN.md §5).

Claims: `org_kind` (prescriber, training_org, region, paying_agency) and `org_id`
(structure code or SIRET). Missing, expired or badly signed token → 401; a valid token
without the right → 403 (or 404 where an object's existence must not leak: the routers
decide that per object).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from pacte_common.errors import Forbidden, Unauthorized
from pacte_common.settings import ServiceSettings


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


def mint_token(settings: ServiceSettings, kind: OrgKind | str, org: str, ttl: timedelta = timedelta(hours=12)) -> str:
    now = datetime.now(UTC)
    claims = {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "sub": f"{OrgKind(kind).value}:{org}",
        "org_kind": OrgKind(kind).value,
        "org_id": org,
        "iat": now,
        "exp": now + ttl,
        "jti": str(uuid.uuid4()),
    }
    return jwt.encode(claims, settings.jwt_secret.get_secret_value(), algorithm=settings.jwt_algorithm)


def decode_token(settings: ServiceSettings, token: str) -> Principal:
    try:
        claims = jwt.decode(
            token,
            settings.jwt_secret.get_secret_value(),
            algorithms=[settings.jwt_algorithm],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options={"require": ["exp", "iat", "sub", "aud", "iss"]},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthorized("The token has expired") from None
    except jwt.InvalidTokenError as exc:
        raise Unauthorized(f"The token is not valid: {exc}") from None
    try:
        kind = OrgKind(claims.get("org_kind"))
    except ValueError:
        raise Unauthorized("The token names no known organisation kind (org_kind)") from None
    org_id = claims.get("org_id")
    if not org_id and kind is not OrgKind.REGION:
        raise Unauthorized("The token names no organisation (org_id)")
    return Principal(org_kind=kind, org_id=str(org_id or "region"), subject=str(claims["sub"]))


_bearer = HTTPBearer(auto_error=False, description="Partner system JWT (`pacte token` mints dev tokens)")


async def current_principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("A bearer token is required")
    return decode_token(request.app.state.runtime.settings, credentials.credentials)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_kind(*kinds: OrgKind):
    """Dependency factory: the caller must be one of these organisation kinds, else 403."""

    async def dependency(principal: CurrentPrincipal) -> Principal:
        if principal.org_kind not in kinds:
            raise Forbidden(f"This action is reserved to: {', '.join(k.value for k in kinds)}")
        return principal

    return Depends(dependency)
