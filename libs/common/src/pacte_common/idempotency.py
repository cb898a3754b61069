"""`Idempotency-Key` on creations (docs/conventions.md §2.3).

Same key and same body → the first response again (header `Idempotent-Replayed: true`);
same key with another body → 422; nothing is ever created twice, even when requests with
one key race.

The key is reserved BEFORE the effect, in the request's own transaction: on PostgreSQL a
transaction-scoped advisory lock keyed by (caller, operation, key); on SQLite every write
transaction already begins IMMEDIATE and holds the database's write lock (pacte_common.db).
A concurrent request with the same key waits on that lock, then finds the first answer
stored and replays it (same status, same body). The lock goes with the transaction: if
the first request fails, nothing is stored and a retry with the key runs the creation
(docs/concurrency.md).
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import bindparam, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from pacte_common.auth import Principal
from pacte_common.crypto import LookupHasher
from pacte_common.db import utcnow
from pacte_common.errors import Invalid
from pacte_common.messaging import MessagingTables


async def _idempotency_key(
    key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            max_length=255,
            description="Makes the creation safe to retry: the same key and body return the first answer.",
        ),
    ] = None,
) -> str | None:
    return key


IdempotencyKey = Annotated[str | None, Depends(_idempotency_key)]


def request_hash(payload: Any, hasher: LookupHasher | None = None) -> str:
    """Fingerprint of the request body. Keyed (HMAC) when a hasher is given: bodies carry NIRs
    and IBANs, and a plain hash of a low-entropy identifier could be reversed by guessing."""
    canonical = json.dumps(_json_ready(payload), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if hasher is not None:
        return hasher.fingerprint(canonical)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _json_ready(value: Any) -> Any:
    """`jsonable_encoder(value)`, and for a pydantic model the same JSON as its own dump in JSON
    mode (what jsonable_encoder does first, before walking the result again): a tenth of the cost."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True)
    return jsonable_encoder(value)


@dataclass(frozen=True)
class Answer:
    """What a creation answered, or answers again for a replayed key: plain data that the use
    cases (app/) return and the HTTP edge (api/) turns into a response (`answer_response`)."""

    status_code: int
    body: Any  # JSON-ready
    replayed: bool = False


def answer_response(answer: Answer, headers: dict[str, str] | None = None) -> JSONResponse:
    """The HTTP answer: `Idempotent-Replayed: true` on a replay."""
    replayed = {"Idempotent-Replayed": "true"} if answer.replayed else {}
    return JSONResponse(answer.body, status_code=answer.status_code, headers={**replayed, **(headers or {})})


async def idempotent_create(
    session: AsyncSession,
    tables: MessagingTables,
    *,
    principal: Principal,
    operation: str,
    key: str | None,
    payload: Any,
    create: Callable[[], Awaitable[tuple[int, Any]]],
    hasher: LookupHasher | None = None,
) -> JSONResponse:
    """`create_once` answered over HTTP, for a route that calls it itself."""
    return answer_response(await create_once(
        session, tables, principal=principal, operation=operation, key=key, payload=payload, create=create, hasher=hasher,
    ))


async def create_once(
    session: AsyncSession,
    tables: MessagingTables,
    *,
    principal: Principal,
    operation: str,
    key: str | None,
    payload: Any,
    create: Callable[[], Awaitable[tuple[int, Any]]],
    hasher: LookupHasher | None = None,
) -> Answer:
    """Runs `create` (which must not commit) once per (caller, operation, key) and commits."""
    if key is None:
        status, body = await create()
        await session.commit()
        return Answer(status, _json_ready(body))

    scope = f"{principal.describe()}|{operation}"
    fingerprint = request_hash(payload, hasher)
    await _reserve(session, scope, key)
    replay = await _stored(session, tables, scope, key, fingerprint)
    if replay is not None:
        return replay
    status, body = await create()
    encoded = _json_ready(body)
    try:
        # Cannot collide while the reservation holds; kept as a last guard (a database
        # without either lock): the key's primary key decides and the loser replays.
        await session.execute(
            tables.idempotency.insert(),
            dict(scope=scope, idempotency_key=key, request_hash=fingerprint, status_code=status,
                 response_body=encoded, created_at=utcnow()),
        )
        await session.commit()
    except IntegrityError:
        await session.rollback()  # a concurrent request with this key won: answer as it did
        replay = await _stored(session, tables, scope, key, fingerprint)
        if replay is None:
            raise
        return replay
    return Answer(status, encoded)


def advisory_lock_id(scope: str, key: str) -> int:
    """A signed 64-bit id for pg_advisory_xact_lock, from the caller's scope and the key."""
    digest = hashlib.blake2b(f"idempotency|{scope}|{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def _reserve(session: AsyncSession, scope: str, key: str) -> None:
    """Holds the key until this transaction ends; a second holder waits here."""
    if session.bind.dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:lock_id)"), {"lock_id": advisory_lock_id(scope, key)})
    # SQLite: the session's first statement began the transaction IMMEDIATE (the write lock).


@functools.cache
def _stored_query(tables: MessagingTables):
    """The look-up of a stored answer, built once per service's tables (statements are data;
    building one costs as much as running it)."""
    table = tables.idempotency
    return select(table.c.request_hash, table.c.status_code, table.c.response_body).where(
        table.c.scope == bindparam("scope"), table.c.idempotency_key == bindparam("key")
    )


async def _stored(session, tables, scope, key, fingerprint) -> Answer | None:
    row = (await session.execute(_stored_query(tables), {"scope": scope, "key": key})).mappings().first()
    if row is None:
        return None
    if row["request_hash"] != fingerprint:
        raise Invalid(
            "This Idempotency-Key was already used with a different request body",
            field="header.Idempotency-Key",
        )
    return Answer(row["status_code"], row["response_body"], replayed=True)
