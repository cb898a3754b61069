"""`POST /satisfaction/imports`: trainee reviews from ANOTEA, as JSON or CSV (docs/satisfaction.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from pacte_common.auth import OrgKind, Principal, require_kind
from pacte_common.errors import Conflict, Invalid, ProblemError
from pacte_common.service import DbSession, RuntimeDep
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError

from sessions.app.satisfaction import import_reviews
from sessions.domain.satisfaction import MalformedReviews, read_csv, read_json

router = APIRouter(tags=["satisfaction"])
Region = Annotated[Principal, require_kind(OrgKind.REGION)]


class UnsupportedMediaType(ProblemError):
    status, slug, title = 415, "unsupported-media-type", "Unsupported media type"


class ReviewReference(BaseModel):
    review_id: str
    session: str | None
    action: str | None
    reason: str


class ImportOut(BaseModel):
    received: int
    created: int
    updated: int
    unchanged: int
    unknown: list[ReviewReference]
    rejected: list[ReviewReference]


BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"type": "object", "properties": {"avis": {"type": "array", "items": {"type": "object"}}}}},
            "text/csv": {"schema": {"type": "string"}},
        },
    }
}


@router.post(
    "/satisfaction/imports",
    response_model=ImportOut,
    summary="Import ANOTEA reviews (JSON `avis` or the back-office CSV); idempotent by review id; unknown sessions reported",
    openapi_extra=BODY,
    responses={415: {"description": "Neither JSON nor CSV"}},
)
async def import_satisfaction(request: Request, principal: Region, db: DbSession, runtime: RuntimeDep):
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    data = await request.body()
    timezone = runtime.settings.business_timezone
    try:
        if media_type in ("text/csv", "application/csv"):
            reviews = read_csv(data, timezone)
        elif media_type == "application/json" or media_type.endswith("+json"):
            reviews = read_json(data, timezone)
        else:
            raise UnsupportedMediaType("send the reviews as application/json (ANOTEA avis) or text/csv (ANOTEA export)")
    except MalformedReviews as exc:
        raise Invalid(errors=[{"field": field, "message": message} for field, message in exc.errors]) from None
    try:
        report = await import_reviews(db, reviews, principal.describe())
    except IntegrityError:  # the same new review imported by two requests at once
        raise Conflict("another import stored some of these reviews at the same time; send the file again") from None
    return ImportOut(**report.__dict__)
