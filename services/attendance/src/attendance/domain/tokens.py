"""The trainees' credentials without an account (docs/attendance.md §2). Pure functions.

- A personal link: a JWT (HS256, the service's signing key) naming one trainee's file and one
  half-day, with an expiry and an id. Used for another file or half-day: refused.
- A room's QR code: a JWT naming the half-day and its window number (server time divided by
  the window length); accepted in its window and the next, after that refused and flagged.
- A trainee's pass (cookie of the signing page, and what a QR scan needs to know who signs):
  a JWT naming the file and the session, valid to the end of the session.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt

ALGORITHM = "HS256"
AUDIENCE = "pacte-attendance-sheet"


class TokenExpired(Exception):
    """The token's time is over (the caller answers 410 with how to get a new one)."""


class TokenInvalid(Exception):
    """Not a token of ours, or tampered with."""


@dataclass(frozen=True)
class LinkClaims:
    dossier_id: uuid.UUID
    half_day_id: uuid.UUID
    token_id: str


@dataclass(frozen=True)
class QrClaims:
    half_day_id: uuid.UUID
    window: int


def _encode(key: str, claims: dict) -> str:
    return jwt.encode({**claims, "aud": AUDIENCE}, key, algorithm=ALGORITHM)


def _decode(key: str, token: str, kind: str, now: datetime, leeway_s: int = 0) -> dict:
    try:
        claims = jwt.decode(token, key, algorithms=[ALGORITHM], audience=AUDIENCE, leeway=leeway_s,
                            options={"verify_exp": False})
    except jwt.InvalidTokenError:
        raise TokenInvalid("not a valid token") from None
    if claims.get("k") != kind:
        raise TokenInvalid(f"not a {kind} token")
    if "exp" in claims and now.timestamp() > claims["exp"] + leeway_s:
        raise TokenExpired(kind)
    return claims


def link_token(key: str, dossier_id: uuid.UUID, half_day_id: uuid.UUID, now: datetime, ttl: timedelta) -> str:
    return _encode(key, {"k": "link", "sub": str(dossier_id), "hd": str(half_day_id), "jti": uuid.uuid4().hex,
                         "iat": int(now.timestamp()), "exp": int((now + ttl).timestamp())})


def read_link(key: str, token: str, now: datetime) -> LinkClaims:
    claims = _decode(key, token, "link", now)
    return LinkClaims(uuid.UUID(claims["sub"]), uuid.UUID(claims["hd"]), claims["jti"])


def qr_window(now: datetime, window_s: int) -> int:
    return int(now.timestamp()) // window_s


def qr_token(key: str, half_day_id: uuid.UUID, now: datetime, window_s: int) -> tuple[str, datetime]:
    """The code shown now, and when it is replaced."""
    window = qr_window(now, window_s)
    return _encode(key, {"k": "qr", "hd": str(half_day_id), "w": window}), datetime.fromtimestamp((window + 1) * window_s, now.tzinfo)


def read_qr(key: str, token: str) -> QrClaims:
    claims = _decode(key, token, "qr", datetime.max.replace(year=9000))
    return QrClaims(uuid.UUID(claims["hd"]), int(claims["w"]))


def qr_still_valid(claims: QrClaims, now: datetime, window_s: int) -> bool:
    """Its own window, or the next one (a scan at the very end of a window)."""
    return qr_window(now, window_s) - claims.window <= 1


def pass_token(key: str, dossier_id: uuid.UUID, session_id: uuid.UUID, until: datetime) -> str:
    return _encode(key, {"k": "pass", "sub": str(dossier_id), "sid": str(session_id), "exp": int(until.timestamp())})


def read_pass(key: str, token: str, now: datetime) -> tuple[uuid.UUID, uuid.UUID]:
    claims = _decode(key, token, "pass", now)
    return uuid.UUID(claims["sub"]), uuid.UUID(claims["sid"])
