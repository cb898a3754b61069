"""HTTP conventions shared by the routers: optimistic concurrency and cursor pagination."""

from __future__ import annotations

import base64
import json
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Header, Query
from pydantic import BaseModel

from pacte_common.errors import Invalid, PreconditionFailed

T = TypeVar("T")

async def _if_match(
    value: Annotated[
        str | None,
        Header(alias="If-Match", description="ETag of the version the action was decided on (optimistic concurrency)"),
    ] = None,
) -> str | None:
    return value


IfMatch = Annotated[str | None, Depends(_if_match)]
CursorParam = Annotated[str | None, Query(description="Opaque cursor from the previous page's `next_cursor`")]
LimitParam = Annotated[int, Query(ge=1, le=500, description="Page size")]


def etag(version: int) -> str:
    return f'"{version}"'


def check_if_match(if_match: str | None, current_version: int) -> None:
    """412 when the client acted on a stale version; no header means 'whatever the version'."""
    if if_match is None or if_match.strip() == "*":
        return
    candidates = {tag.strip().removeprefix("W/") for tag in if_match.split(",")}
    if etag(current_version) not in candidates:
        raise PreconditionFailed(
            f"The resource is at version {current_version}; reload it and retry",
            current_etag=etag(current_version),
        )


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


def encode_cursor(values: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values, default=str).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> dict[str, Any] | None:
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded))
        if not isinstance(value, dict):
            raise ValueError
        return value
    except Exception:
        raise Invalid("cursor is not valid; use the next_cursor of a previous page", field="query.cursor") from None
