"""`POST /satisfaction/imports`: trainee reviews from ANOTEA, as JSON or CSV (docs/satisfaction.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from pacte_common.auth import OrgKind, Principal, require_kind
from pacte_common.errors import Conflict, Invalid, ProblemError
from pacte_common.service import DbSession, RuntimeDep
from sqlalchemy.exc import IntegrityError

from sessions.api.presenters.satisfaction import satisfaction_import_out
from sessions.api.schemas import SatisfactionImportOut
from sessions.app.satisfaction import import_reviews
from sessions.domain.satisfaction import MalformedReviews, read_csv, read_json

router = APIRouter(tags=["satisfaction"])
Region = Annotated[Principal, require_kind(OrgKind.REGION)]


class UnsupportedMediaType(ProblemError):
    status, slug, title = 415, "unsupported-media-type", "Unsupported media type"


_TEXT = {"type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[^\\x00-\\x1f]*[^\\s\\x00-\\x1f][^\\x00-\\x1f]*$"}
_REFERENCE = {**_TEXT, "maxLength": 128}
_MARK = {"type": "number", "minimum": 1, "maximum": 5}
_COMMENT = {"type": "string", "maxLength": 2000}
_NOTES = ("global", "accueil", "contenu_formation", "equipe_formateurs", "moyen_materiel", "accompagnement")
# One ANOTEA review (public API v1 `avis`), as far as the Pacte reads it (docs/satisfaction.md).
AVIS_SCHEMA = {
    "type": "object",
    "required": ["id", "date", "notes", "formation"],
    "properties": {
        "id": _TEXT,
        "date": {"anyOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}]},
        "notes": {"type": "object", "required": list(_NOTES), "properties": {n: _MARK for n in _NOTES}},
        # Published with the review after ANOTEA's moderation; shown on the public training page.
        "commentaire": {"anyOf": [{"type": "object", "properties": {"titre": _COMMENT, "texte": _COMMENT}}, {"type": "null"}]},
        "formation": {"type": "object", "required": ["action"], "properties": {"action": {
            "type": "object",
            "required": ["organisme_formateur"],
            "properties": {
                "numero": _REFERENCE,
                "organisme_formateur": {"type": "object", "required": ["siret"], "properties": {"siret": {"type": "string", "pattern": "^[0-9]{14}$"}}},
                "session": {"type": "object", "properties": {"numero": _REFERENCE}},
            },
            "anyOf": [{"required": ["numero"]}, {"required": ["session"], "properties": {"session": {"required": ["numero"]}}}],
        }}},
    },
}
BODY = {
    "x-body-limit-setting": "satisfaction_import_max_bytes",
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"anyOf": [
                {"type": "array", "items": AVIS_SCHEMA, "minItems": 1, "maxItems": 5000},
                {"type": "object", "required": ["avis"], "properties": {"avis": {"type": "array", "items": AVIS_SCHEMA, "minItems": 1, "maxItems": 5000}}},
            ]}},
            "text/csv": {"schema": {"type": "string", "description": "ANOTEA's back-office export plus a `date` column (docs/satisfaction.md)"}},
        },
    }
}


@router.post(
    "/satisfaction/imports",
    response_model=SatisfactionImportOut,
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
        report = await import_reviews(db, runtime, reviews, principal.describe())
    except IntegrityError:  # the same new review imported by two requests at once
        raise Conflict("another import stored some of these reviews at the same time; send the file again") from None
    return satisfaction_import_out(report)
