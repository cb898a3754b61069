"""Encryption at rest of personal fields and keyed hashes for lookups (docs/rules.md §7).

Ciphertexts are `v1:<key id>:<base64(nonce || AES-GCM ciphertext)>`, so keys can rotate:
new values use the current key id, old values stay readable while their key is configured.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Mapping

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import SecretStr

_VERSION = "v1"


class DecryptionError(ValueError):
    pass


class FieldCipher:
    def __init__(self, keys: Mapping[str, SecretStr | str], current_key_id: str):
        self._keys = {
            key_id: AESGCM(base64.b64decode(_reveal(secret))) for key_id, secret in keys.items()
        }
        if current_key_id not in self._keys:
            raise ValueError(f"encryption key id {current_key_id!r} is not configured")
        self.current_key_id = current_key_id

    def encrypt(self, plaintext: str, *, context: str = "") -> str:
        nonce = os.urandom(12)
        sealed = self._keys[self.current_key_id].encrypt(
            nonce, plaintext.encode(), context.encode()
        )
        token = base64.urlsafe_b64encode(nonce + sealed).decode()
        return f"{_VERSION}:{self.current_key_id}:{token}"

    def decrypt(self, ciphertext: str, *, context: str = "") -> str:
        try:
            version, key_id, token = ciphertext.split(":", 2)
            if version != _VERSION:
                raise DecryptionError(f"unknown ciphertext version {version!r}")
            raw = base64.urlsafe_b64decode(token)
            return self._keys[key_id].decrypt(raw[:12], raw[12:], context.encode()).decode()
        except KeyError as exc:
            raise DecryptionError("ciphertext key id is not configured") from exc
        except DecryptionError:
            raise
        except Exception as exc:  # InvalidTag, bad base64, bad split
            raise DecryptionError("ciphertext cannot be decrypted") from exc

    def encrypt_bytes(self, plaintext: bytes, *, context: str = "") -> bytes:
        """Bytes sealed as `v1:<key id>:` + nonce + AES-GCM ciphertext (a binary column: large
        values, e.g. an uploaded file's chunks, without base64's third more)."""
        nonce = os.urandom(12)
        sealed = self._keys[self.current_key_id].encrypt(nonce, plaintext, context.encode())
        return f"{_VERSION}:{self.current_key_id}:".encode() + nonce + sealed

    def decrypt_bytes(self, ciphertext: bytes, *, context: str = "") -> bytes:
        try:
            version, key_id, raw = bytes(ciphertext).split(b":", 2)
            if version.decode() != _VERSION:
                raise DecryptionError(f"unknown ciphertext version {version!r}")
            return self._keys[key_id.decode()].decrypt(raw[:12], raw[12:], context.encode())
        except KeyError as exc:
            raise DecryptionError("ciphertext key id is not configured") from exc
        except DecryptionError:
            raise
        except Exception as exc:  # InvalidTag, bad split
            raise DecryptionError("ciphertext cannot be decrypted") from exc

    def key_id_of(self, ciphertext: str) -> str:
        return ciphertext.split(":", 2)[1]

    def rotate(self, ciphertext: str, *, context: str = "") -> str:
        """Re-encrypt with the current key (used by the key-rotation runbook)."""
        return self.encrypt(self.decrypt(ciphertext, context=context), context=context)


class LookupHasher:
    """HMAC-SHA256 of normalised values: finds a person by NIR without storing it in clear."""

    def __init__(self, key: SecretStr | str):
        self._key = _reveal(key).encode()

    def hash(self, *parts: str) -> str:
        message = "\x1f".join(part.strip().upper() for part in parts)
        return hmac.new(self._key, message.encode(), hashlib.sha256).hexdigest()

    def fingerprint(self, text: str) -> str:
        """Keyed digest of an exact text (no normalisation), e.g. a request body."""
        return hmac.new(self._key, b"fingerprint\x1f" + text.encode(), hashlib.sha256).hexdigest()


def _reveal(secret: SecretStr | str) -> str:
    return secret.get_secret_value() if isinstance(secret, SecretStr) else secret


def new_key() -> str:
    """A fresh base64 AES-256 key, for `pacte keygen` and the rotation runbook."""
    return base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()
