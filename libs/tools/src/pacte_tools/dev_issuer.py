"""The embedded default's token issuer: a tiny OpenID provider for development and tests.

It serves what the services read from a real provider (Keycloak, …):
`/.well-known/openid-configuration` and `/jwks.json`, plus a `client_credentials` token
endpoint that signs whatever organisation it is asked for (development only: it refuses to
start unless PACTE_ENVIRONMENT=development). Keys live in `keys_dir` (`.data/dev-issuer/` for
`pacte up`), generated on first use and kept across restarts, each with its key id (kid).

Rotation (`python -m pacte_tools.dev_issuer rotate`): a new key becomes the signing key; the
old one stays in the JWKS for `rotation_grace_hours`, so tokens it signed stay valid meanwhile.
The services notice the new kid on the first token that names it (they refetch the JWKS).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import sys
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from pacte_common.auth import OrgKind
from pacte_common.clock import utcnow
from pacte_common.settings import (
    DEV_KID_PREFIX,
    DEVELOPMENT,
    ServiceSettings,
    TokenClaimSettings,
    service_audience,
    shared_variable,
)
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

# Every key this issuer makes has a kid with this prefix: a service outside development
# refuses tokens signed by such a key even if a JWKS serves it (docs/security.md).
KEYS_FILE = "keys.json"
JWKS_FILE = "jwks.json"


class DevIssuerSettings(BaseSettings):
    """Env prefix PACTE_DEV_ISSUER_ (`pacte up` sets them from the suite settings)."""

    model_config = SettingsConfigDict(env_prefix="PACTE_DEV_ISSUER_", extra="ignore")

    environment: str = Field(default_factory=lambda: shared_variable("environment", "production"))
    host: str = "127.0.0.1"
    port: int = 8007
    # Empty: http://<host>:<port> (the OpenID rule: the issuer is the URL its metadata is served under).
    issuer: str = ""
    keys_dir: Path = Path(".data/dev-issuer")
    key_algorithm: str = Field("RS256", pattern="^(RS256|ES256)$")
    rotation_grace_hours: float = Field(24.0, ge=0)
    default_token_hours: float = Field(12.0, gt=0)
    max_token_hours: float = Field(24.0 * 30, gt=0)

    @property
    def issuer_url(self) -> str:
        return self.issuer or f"http://{self.host}:{self.port}"

    def environment_variables(self) -> dict[str, str]:
        """These settings as PACTE_DEV_ISSUER_* variables, for a child process."""
        return {
            "PACTE_DEV_ISSUER_HOST": self.host,
            "PACTE_DEV_ISSUER_PORT": str(self.port),
            "PACTE_DEV_ISSUER_ISSUER": self.issuer_url,
            "PACTE_DEV_ISSUER_KEYS_DIR": str(self.keys_dir.resolve()),
            "PACTE_DEV_ISSUER_KEY_ALGORITHM": self.key_algorithm,
        }


@dataclass(frozen=True)
class DevKey:
    kid: str
    algorithm: str
    created_at: datetime
    retired_at: datetime | None
    private_jwk: dict[str, Any]

    def private_key(self):
        return _algorithm(self.algorithm).from_jwk(self.private_jwk)

    def public_jwk(self) -> dict[str, Any]:
        public = _algorithm(self.algorithm).to_jwk(self.private_key().public_key(), as_dict=True)
        return {**public, "kid": self.kid, "alg": self.algorithm, "use": "sig"}

    def as_record(self) -> dict[str, Any]:
        return {
            "kid": self.kid,
            "alg": self.algorithm,
            "created_at": self.created_at.isoformat(),
            "retired_at": self.retired_at.isoformat() if self.retired_at else None,
            "private_jwk": self.private_jwk,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> DevKey:
        retired = record.get("retired_at")
        return cls(
            kid=record["kid"],
            algorithm=record["alg"],
            created_at=datetime.fromisoformat(record["created_at"]),
            retired_at=datetime.fromisoformat(retired) if retired else None,
            private_jwk=record["private_jwk"],
        )

    @classmethod
    def generate(cls, algorithm: str) -> DevKey:
        now = utcnow()
        if algorithm == "ES256":
            private = ec.generate_private_key(ec.SECP256R1())
        else:
            private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        kid = f"{DEV_KID_PREFIX}{now:%Y%m%d%H%M%S}-{secrets.token_hex(3)}"
        return cls(kid, algorithm, now, None, _algorithm(algorithm).to_jwk(private, as_dict=True))


def _algorithm(name: str):
    return ECAlgorithm(ECAlgorithm.SHA256) if name == "ES256" else RSAAlgorithm(RSAAlgorithm.SHA256)


class DevKeyStore:
    """The issuer's key pairs in one folder: `keys.json` (private, mode 600) and `jwks.json` (public).

    Safe to share between processes (`pacte up`'s issuer, `pacte token`, the tests): every change
    happens under a file lock and is written atomically; readers reload when the file changes.
    """

    def __init__(self, directory: Path, algorithm: str = "RS256", grace: timedelta = timedelta(hours=24)):
        self.directory = Path(directory)
        self.algorithm = algorithm
        self.grace = grace
        self._keys: list[DevKey] = []
        self._loaded_mtime: int | None = None

    @property
    def keys_file(self) -> Path:
        return self.directory / KEYS_FILE

    @property
    def jwks_file(self) -> Path:
        return self.directory / JWKS_FILE

    @classmethod
    def open(cls, settings: DevIssuerSettings) -> DevKeyStore:
        store = cls(settings.keys_dir, settings.key_algorithm, timedelta(hours=settings.rotation_grace_hours))
        store.ensure()
        return store

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self.directory / ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def ensure(self) -> None:
        """Loads the keys, generating the first one if there is none yet."""
        with self._locked():
            self._read()
            if not self._keys:
                self._write([DevKey.generate(self.algorithm)])

    def rotate(self) -> DevKey:
        """A new signing key; the previous ones stay published for the grace period."""
        with self._locked():
            self._read()
            now = utcnow()
            kept = [key if key.retired_at else DevKey(key.kid, key.algorithm, key.created_at, now, key.private_jwk) for key in self._keys]
            new = DevKey.generate(self.algorithm)
            self._write([new, *kept])
            return new

    def refresh(self) -> None:
        """Re-reads the keys if another process changed them."""
        try:
            mtime = self.keys_file.stat().st_mtime_ns
        except FileNotFoundError:
            self.ensure()
            return
        if mtime != self._loaded_mtime:
            with self._locked():
                self._read()

    @property
    def signing_key(self) -> DevKey:
        self.refresh()
        return next(key for key in self._keys if key.retired_at is None)

    def published(self) -> list[DevKey]:
        """The keys in the JWKS: the signing key and the retired ones still in their grace period."""
        now = utcnow()
        return [key for key in self._keys if key.retired_at is None or key.retired_at + self.grace > now]

    def jwks(self) -> dict[str, Any]:
        self.refresh()
        return {"keys": [key.public_jwk() for key in self.published()]}

    def sign(self, claims: dict[str, Any]) -> str:
        key = self.signing_key
        return jwt.encode(claims, key.private_key(), algorithm=key.algorithm, headers={"kid": key.kid})

    def _read(self) -> None:
        if not self.keys_file.exists():
            self._keys, self._loaded_mtime = [], None
            return
        self._loaded_mtime = self.keys_file.stat().st_mtime_ns
        self._keys = [DevKey.from_record(r) for r in json.loads(self.keys_file.read_text())["keys"]]

    def _write(self, keys: list[DevKey]) -> None:
        self._keys = keys
        keys = self.published()  # retired keys past their grace period are dropped for good
        self._keys = keys
        _atomic_write(self.keys_file, json.dumps({"keys": [k.as_record() for k in keys]}, indent=1), mode=0o600)
        _atomic_write(self.jwks_file, json.dumps({"keys": [k.public_jwk() for k in keys]}, indent=1), mode=0o644)
        self._loaded_mtime = self.keys_file.stat().st_mtime_ns


def _atomic_write(path: Path, text: str, mode: int) -> None:
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
    os.replace(temporary, path)


def service_audiences() -> list[str]:
    """The audiences of every service of the suite (what a dev token names when asked for none)."""
    from pacte_tools.suite import SERVICES

    return [service_audience(spec.name) for spec in SERVICES if spec.has_database]


def audience_of(name: str) -> str:
    """`orientation` → `pacte-orientation` (the shared audience template); a full audience is kept as it is."""
    return name if name.startswith("pacte-") or ":" in name else service_audience(name)


def token_claims(
    issuer: str,
    audiences: Sequence[str],
    org_kind: str,
    org_id: str,
    ttl: timedelta,
    extra: dict[str, Any] | None = None,
    names: TokenClaimSettings | None = None,
) -> dict[str, Any]:
    """A token's claims; the partner's claims under the deployment's claim names (`names`)."""
    names = names or TokenClaimSettings()
    now = utcnow()
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audiences[0] if len(audiences) == 1 else list(audiences),
        "sub": f"{org_kind}:{org_id}",
        names.jwt_org_kind_claim: org_kind,
        names.jwt_org_id_claim: org_id,
        "iat": now,
        "exp": now + ttl,
        "jti": str(uuid.uuid4()),
    }
    claims.update(extra or {})
    return claims


def dev_token(
    org_kind: str,
    org_id: str,
    ttl: timedelta | None = None,
    audiences: Sequence[str] = (),
    settings: DevIssuerSettings | None = None,
) -> str:
    """What `pacte token` prints: signed with the dev issuer's key, for the named services (default: all)."""
    settings = settings or DevIssuerSettings()
    refuse_outside_development(settings.environment)
    store = DevKeyStore.open(settings)
    wanted = [audience_of(a) for a in audiences] or service_audiences()
    ttl = ttl or timedelta(hours=settings.default_token_hours)
    return store.sign(token_claims(settings.issuer_url, wanted, org_kind, org_id, ttl))


def refuse_outside_development(environment: str) -> None:
    if environment != DEVELOPMENT:
        raise RuntimeError(
            f"the development token issuer only runs with PACTE_ENVIRONMENT=development (here: {environment!r}); "
            "a real deployment takes its tokens from its OpenID provider (docs/security.md)"
        )


def create_app(settings: DevIssuerSettings | None = None) -> Starlette:
    """The issuer as an ASGI app (`uvicorn --factory pacte_tools.dev_issuer:create_app`)."""
    settings = settings or DevIssuerSettings()
    refuse_outside_development(settings.environment)
    store = DevKeyStore.open(settings)
    issuer = settings.issuer_url

    async def configuration(request: Request) -> JSONResponse:
        return JSONResponse(
            {
                "issuer": issuer,
                "jwks_uri": f"{issuer}/jwks.json",
                "token_endpoint": f"{issuer}/token",
                "grant_types_supported": ["client_credentials"],
                "token_endpoint_auth_methods_supported": ["none"],
                "response_types_supported": ["token"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": [settings.key_algorithm],
                "claims_supported": ["iss", "aud", "sub", "exp", "iat", "jti", "org_kind", "org_id"],
            }
        )

    async def jwks(request: Request) -> JSONResponse:
        return JSONResponse(store.jwks(), headers={"Cache-Control": "public, max-age=60"})

    async def token(request: Request) -> JSONResponse:
        """Client credentials, development style: the form names the organisation and the audiences."""
        form = await request.form()
        if form.get("grant_type") != "client_credentials":
            return _oauth_error("unsupported_grant_type", "only grant_type=client_credentials is supported")
        org_kind, org_id = str(form.get("org_kind") or ""), str(form.get("org_id") or "region")
        if org_kind not in {"prescriber", "training_org", "region", "paying_agency"}:
            return _oauth_error("invalid_request", "org_kind must be prescriber, training_org, region or paying_agency")
        try:
            hours = float(form.get("expires_in") or settings.default_token_hours * 3600) / 3600
        except ValueError:
            return _oauth_error("invalid_request", "expires_in must be a number of seconds")
        if not 0 < hours <= settings.max_token_hours:
            return _oauth_error("invalid_request", f"expires_in must be between 1 and {int(settings.max_token_hours * 3600)} seconds")
        audiences = [audience_of(a) for a in " ".join(str(v) for v in form.getlist("audience")).split()] or service_audiences()
        ttl = timedelta(hours=hours)
        access_token = store.sign(token_claims(issuer, audiences, org_kind, org_id, ttl))
        return JSONResponse(
            {"access_token": access_token, "token_type": "Bearer", "expires_in": int(ttl.total_seconds())},
            headers={"Cache-Control": "no-store"},
        )

    async def live(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "service": "dev-issuer"})

    return Starlette(
        routes=[
            Route("/.well-known/openid-configuration", configuration),
            Route("/jwks.json", jwks),
            Route("/token", token, methods=["POST"]),
            Route("/health/live", live),
        ]
    )


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
    refuse_outside_development(settings.environment)
    store = DevKeyStore.open(DevIssuerSettings(environment=settings.environment))
    body = token_claims(settings.jwt_issuer, [audience or settings.jwt_audience], OrgKind(kind).value, org, ttl, claims, names=settings)
    return store.sign(body)


def request_token(issuer_url: str, org_kind: str, org_id: str, audiences: Sequence[str] = ()) -> str:
    """Asks a running dev issuer for a token (what a partner does with its OpenID provider)."""
    import httpx

    form = {"grant_type": "client_credentials", "org_kind": org_kind, "org_id": org_id, "audience": " ".join(audiences)}
    response = httpx.post(f"{issuer_url}/token", data=form, timeout=10)
    response.raise_for_status()
    return response.json()["access_token"]


def _oauth_error(code: str, description: str) -> JSONResponse:
    return JSONResponse({"error": code, "error_description": description}, status_code=400)


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m pacte_tools.dev_issuer rotate|jwks`: rotate the dev key, print the public JWKS."""
    args = list(sys.argv[1:] if argv is None else argv)
    settings = DevIssuerSettings()
    refuse_outside_development(settings.environment)
    store = DevKeyStore.open(settings)
    if args == ["rotate"]:
        key = store.rotate()
        print(f"new signing key {key.kid}; the previous one stays published for {settings.rotation_grace_hours:g} h")
    elif args == ["jwks"]:
        print(json.dumps(store.jwks(), indent=2))
    else:
        print("usage: python -m pacte_tools.dev_issuer rotate|jwks", file=sys.stderr)
        raise SystemExit(2)


if __name__ == "__main__":
    main()
