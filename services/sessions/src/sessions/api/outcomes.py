"""Post-training outcomes over HTTP (docs/outcomes.md): the survey provider's imports (through the
Region), a training organisation's declarations, the purge. The result indicators are insights'."""

from __future__ import annotations

import csv
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pacte_common.auth import CurrentPrincipal, OrgKind, Principal, require_kind
from pacte_common.contracts.outcomes import Horizon, OutcomeSituation, OutcomeSource
from pacte_common.errors import Conflict, Invalid, InvalidTransition, ProblemError
from pacte_common.http import IsoDate
from pacte_common.service import DbSession, RuntimeDep
from pacte_common.validators import NIR_SCHEMA
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
    model_validator,
)
from sqlalchemy.exc import IntegrityError

from sessions.api.access import Today, ensure_dossier_readable
from sessions.api.presenters.outcomes import import_out, outcome_out, purge_out, situations_out
from sessions.api.schemas import OutcomeOut, OutcomesImportOut, PurgeOut, SituationOut
from sessions.app import outcomes as use_cases
from sessions.app.outcomes import purge_expired
from sessions.db.outcomes import outcomes_of
from sessions.db.queries import dossier_by_id
from sessions.domain.outcomes import read_csv

router = APIRouter(tags=["outcomes"])
Region = Annotated[Principal, require_kind(OrgKind.REGION)]
TrainingOrg = Annotated[Principal, require_kind(OrgKind.TRAINING_ORG)]


class UnsupportedMediaType(ProblemError):
    status, slug, title = 415, "unsupported-media-type", "Unsupported media type"


class Unreadable(ProblemError):
    """400: the body cannot be read in its declared media type (not UTF-8, not JSON)."""

    status, slug, title = 400, "bad-request", "The body cannot be read"


# ---------------------------------------------------------------- schemas


# The NIR's written form (its pattern); its key is checked with the rest of the line's content.
NirForm = Annotated[str, Field(pattern=NIR_SCHEMA["pattern"]), WithJsonSchema(NIR_SCHEMA)]


class OutcomeLineIn(BaseModel):
    """One line of a JSON import: the file (`dossier_id`) or the person (`nir`, `nir_hash`), and the outcome.
    Read strictly, as its schema says (an integer horizon, a boolean relation, ISO dates)."""

    model_config = ConfigDict(
        strict=True,
        json_schema_extra={"anyOf": [{"required": ["dossier_id"]}, {"required": ["nir"]}, {"required": ["nir_hash"]}]},
    )

    dossier_id: UUID = Field(None, description="The training file's id, as the Region gave it to the provider")
    nir: NirForm = Field(None, description="Hashed on arrival with the suite's lookup key; never stored nor echoed")
    nir_hash: str = Field(None, pattern=r"^[0-9a-f]{64}$", description="The NIR's keyed hash, for files prepared by a holder of the key")
    horizon_months: Horizon
    situation: OutcomeSituation
    observed_on: IsoDate = Field(strict=False)  # the ISO form is checked before; strict would refuse any string
    job_related_to_training: bool | None = None

    @model_validator(mode="after")
    def names_someone(self):
        if self.dossier_id is None and self.nir is None and self.nir_hash is None:
            raise ValueError("a line names its training file (dossier_id) or the person (nir or nir_hash)")
        return self


class ImportIn(BaseModel):
    model_config = ConfigDict(strict=True)

    lines: list[OutcomeLineIn] = Field(min_length=1, max_length=200_000)


IMPORT_JSON = TypeAdapter(ImportIn)


class OutcomeIn(BaseModel):
    horizon_months: Horizon
    situation: OutcomeSituation
    observed_on: IsoDate
    job_related_to_training: bool | None = None


# ---------------------------------------------------------------- import


def inline_schema(model: type[BaseModel]) -> dict:
    """The model's JSON Schema with its definitions inlined (a route's own body schema), without null defaults."""
    schema = model.model_json_schema()
    definitions = schema.pop("$defs", {})

    def inline(node):
        if isinstance(node, dict):
            if "$ref" in node:
                return inline(definitions[node["$ref"].rsplit("/", 1)[-1]])
            # a `default: null` on a field that is not nullable would be read as a valid example
            return {key: inline(value) for key, value in node.items() if not (key == "default" and value is None)}
        if isinstance(node, list):
            return [inline(item) for item in node]
        return node

    return inline(schema)


IMPORT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "text/csv": {"schema": {"type": "string"}, "example": (
                "dossier_id;nir;horizon_months;situation;observed_on;job_related_to_training\n"
                "3f1c2a9e-5b7d-4c1e-9a0b-2d4e6f8a0c12;;6;permanent_job;2026-09-28;oui\n"
            )},
            "application/json": {"schema": inline_schema(ImportIn)},
        },
    },
    "x-body-limit-setting": "outcome_import_max_bytes",
}


def json_lines(data: bytes) -> list[dict]:
    """The JSON body validated against its schema (422 naming `line[N].field`), as plain lines."""
    try:
        body = IMPORT_JSON.validate_json(data)
    except ValidationError as exc:
        if any(error["type"] == "json_invalid" for error in exc.errors()):
            raise Unreadable("the body is not JSON") from None
        errors = []
        for error in exc.errors():
            loc = list(error["loc"])
            if len(loc) >= 2 and loc[0] == "lines" and isinstance(loc[1], int):
                field = f"line[{loc[1] + 1}]" + "".join(f".{part}" for part in loc[2:])
            else:
                field = "body" + "".join(f".{part}" for part in loc)
            errors.append({"field": field, "message": error["msg"].removeprefix("Value error, ")})
        raise Invalid(errors=errors) from None
    return [line.model_dump(mode="json", exclude_none=True) for line in body.lines]


def read_lines(media_type: str, data: bytes) -> list:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Unreadable("the file must be UTF-8") from None
    if media_type in ("text/csv", "application/csv"):
        try:
            return read_csv(text)
        except csv.Error as exc:  # a field past the csv module's limit
            raise Unreadable(f"not a readable CSV: {exc}") from None
    if media_type == "application/json" or media_type.endswith("+json"):
        return json_lines(data)
    raise UnsupportedMediaType("send the outcomes as text/csv or application/json")


@router.post(
    "/outcomes/imports",
    status_code=201,
    response_model=OutcomesImportOut,
    summary="Import outcomes from the survey provider or France Travail (CSV or JSON); all or nothing, idempotent",
    openapi_extra=IMPORT_BODY,
    responses={
        200: {"description": "Dry run: the report of what the import would do; nothing written", "model": OutcomesImportOut},
        400: {"description": "Not UTF-8, or not JSON"},
        409: {"description": "Lines whose content is refused (errors[].field = line[N].column, report); nothing was imported"},
        415: {"description": "Neither CSV nor JSON"},
        422: {"description": "The JSON body breaks its schema (errors[].field = line[N].field)"},
    },
)
async def import_outcomes(
    request: Request, principal: Region, db: DbSession, runtime: RuntimeDep, today: Today,
    source: Annotated[Literal["survey", "france_travail"], Query(description="Who observed the situations")] = "survey",
    dry_run: Annotated[bool, Query(description="Report only: match and validate, write nothing")] = False,
):
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    data = await request.body()
    raw_lines = read_lines(media_type, data)
    try:
        report = await use_cases.import_outcomes(
            db, runtime, raw_lines=raw_lines, source=OutcomeSource(source), media_type=media_type,
            fingerprint=runtime.hasher.fingerprint(data.decode("utf-8-sig")), actor=principal.describe(),
            today=today, dry_run=dry_run,
        )
    except IntegrityError:  # the same outcomes stored by another import at the same moment
        raise Conflict("another import recorded some of these outcomes at the same time; send the file again") from None
    return JSONResponse(jsonable_encoder(import_out(report)), status_code=200 if dry_run else 201)


# ---------------------------------------------------------------- declaration and reading


@router.post(
    "/dossiers/{dossier_id}/outcomes",
    status_code=201,
    response_model=OutcomeOut,
    summary="A training organisation declares what became of its trainee at a horizon (source: training organisation)",
    responses={
        200: {"description": "Already declared: corrected, or the same again (unchanged)", "model": OutcomeOut},
        409: {"description": "The training file has not exited (current_state)"},
    },
)
async def declare_outcome(dossier_id: UUID, body: OutcomeIn, principal: TrainingOrg, db: DbSession, runtime: RuntimeDep, today: Today):
    dossier = ensure_dossier_readable(principal, await dossier_by_id(db, dossier_id, for_update=True))
    if dossier.status != "exited":
        raise InvalidTransition("declare-outcome", dossier.status, [], detail="outcomes are declared after the exit")
    try:
        status, outcome = await use_cases.declare_outcome(
            db, runtime, dossier, horizon=body.horizon_months, situation=body.situation, observed_on=body.observed_on,
            job_related_to_training=body.job_related_to_training, actor=principal.describe(), today=today,
        )
    except IntegrityError:
        raise Conflict("this outcome was declared at the same moment by another request; send it again") from None
    return JSONResponse(jsonable_encoder(outcome_out(outcome)), status_code=201 if status == "created" else 200)


@router.get("/dossiers/{dossier_id}/outcomes", response_model=list[OutcomeOut], summary="Outcomes recorded for a training file, every source")
async def list_outcomes(dossier_id: UUID, principal: CurrentPrincipal, db: DbSession):
    dossier = ensure_dossier_readable(principal, await dossier_by_id(db, dossier_id))
    found = await outcomes_of(db, [dossier.id])
    return [outcome_out(o) for _, o in sorted(found.items(), key=lambda item: (item[0][1], item[0][2]))]


@router.get("/outcomes/situations", response_model=list[SituationOut], summary="The situation codes and their French labels")
async def list_outcome_situations(principal: CurrentPrincipal):
    return situations_out()


@router.post("/outcomes/purge", response_model=PurgeOut, summary="Delete the outcomes past their retention period (Region)")
async def purge_outcomes(principal: Region, db: DbSession, runtime: RuntimeDep, today: Today):
    report = await purge_expired(db, runtime, today)
    return purge_out(report)
