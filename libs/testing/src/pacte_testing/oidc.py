"""A real, certified OpenID provider for the tests: node oidc-provider (tests/oidc), started on a
free port with the keys and clients a test gives; restarted to rotate or remove keys, stopped for
an outage (docs/security.md, "Tested against a real provider")."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

PROVIDER_DIR = Path(__file__).resolve().parents[4] / "tests" / "oidc"
RESOURCE = "https://pacte.test/orientation"
KIND_CLAIM, ID_CLAIM = "pacte_org_kind", "pacte_org_id"
CLIENTS = [
    {"client_id": "ft-agency", "client_secret": "ft-agency-secret-0123456789abcdef", "org_kind": "prescriber",
     "org_id": "PE-44001", "alg": "RS256"},
    {"client_id": "training-org", "client_secret": "training-org-secret-0123456789abcd", "org_kind": "training_org",
     "org_id": "73282932000074", "alg": "ES256"},
    {"client_id": "region", "client_secret": "region-secret-0123456789abcdef0123", "org_kind": "region",
     "org_id": "region", "alg": "RS256"},
]


def private_jwk(kid: str, kind: str) -> dict:
    if kind == "RS256":
        key = json.loads(RSAAlgorithm.to_jwk(rsa.generate_private_key(public_exponent=65537, key_size=2048)))
    else:
        key = json.loads(ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP256R1())))
    return {**key, "kid": kid, "alg": kind, "use": "sig"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class OidcProvider:
    """node oidc-provider on a fixed address; restarted with other keys to rotate or remove them."""

    def __init__(self, workdir: Path):
        self.port, self.workdir, self.process = free_port(), workdir, None
        self.issuer = f"http://127.0.0.1:{self.port}"

    def start(self, keys: list[dict]) -> None:
        config = self.workdir / "provider.json"
        config.write_text(json.dumps({"issuer": self.issuer, "keys": keys, "clients": CLIENTS,
                                      "org_kind_claim": KIND_CLAIM, "org_id_claim": ID_CLAIM}))
        self.process = subprocess.Popen(["node", str(PROVIDER_DIR / "provider.mjs"), str(self.port), str(config)],
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 20
        while True:
            try:
                # ready, and its key set served once (the first answer is the slow one), so that the
                # services' first fetch, with their short timeout, does not meet a cold provider
                if all(httpx.get(f"{self.issuer}{path}", timeout=5).status_code == 200
                       for path in ("/.well-known/openid-configuration", "/jwks")):
                    return
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the OpenID provider did not start: {self.process.stdout.read()}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)

    def token(self, client: dict, resource: str = RESOURCE) -> str:
        answer = httpx.post(f"{self.issuer}/token", data={"grant_type": "client_credentials", "resource": resource},
                            auth=(client["client_id"], client["client_secret"]), timeout=10)
        assert answer.status_code == 200, answer.text
        return answer.json()["access_token"]




def provider_installed() -> str | None:
    """Why the provider cannot run here, or None once its packages are installed (npm ci)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        return ("Node.js and npm are needed for the OpenID provider tests: `apt-get install nodejs npm` "
                "(which `./pacte test` does when run as root)")
    if not (PROVIDER_DIR / "node_modules" / "oidc-provider").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=PROVIDER_DIR, check=True, timeout=300)
    return None


def started_provider(workdir: Path) -> OidcProvider:
    """A provider with three keys made for it (two published at first: rsa-1, ec-1; rsa-2 for rotation)."""
    server = OidcProvider(workdir)
    server.keys = {"rsa-1": private_jwk("rsa-1", "RS256"), "ec-1": private_jwk("ec-1", "ES256"),
                   "rsa-2": private_jwk("rsa-2", "RS256")}
    server.start([server.keys["rsa-1"], server.keys["ec-1"]])
    return server
