"""The Region's employment-training territories over HTTP (docs/territories.md).

`PUT /territories` publishes a new version (Region only): it becomes the current one, every
session is placed again in it, older versions stay readable. Anyone signed in reads them.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from pacte_common.auth import CurrentPrincipal, OrgKind, Principal, require_kind
from pacte_common.errors import Conflict, NotFound
from pacte_common.service import DbSession, RuntimeDep
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)
from sqlalchemy.exc import IntegrityError

from sessions.api.presenters.territories import version_out, version_summary_out
from sessions.api.schemas import VersionOut, VersionSummary
from sessions.app.territories import publish_version
from sessions.db import territories as store
from sessions.domain.territories import version_problems

router = APIRouter(tags=["territories"])
Region = Annotated[Principal, require_kind(OrgKind.REGION)]


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("NUL characters are not allowed")
    return value


# No control characters, said in the schema (a pattern) so that clients know it before sending.
Text = Annotated[str, StringConstraints(pattern=r"^[^\x00-\x1f]*$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PlaceIn(Strict):
    """A commune and/or postcode: at least one of `postcode` and `commune_insee`."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"anyOf": [{"required": ["postcode"]}, {"required": ["commune_insee"]}]})
    commune_insee: str = Field(None, pattern=r"^([0-9]{5}|2[AB][0-9]{3})$", description="INSEE code of the commune")
    commune_name: Text = Field(None, max_length=255)
    postcode: str = Field(None, pattern=r"^[0-9]{5}$")

    @model_validator(mode="after")
    def _somewhere(self):
        if self.postcode is None and self.commune_insee is None:
            raise ValueError("a place needs a postcode or a commune INSEE code")
        return self


class TerritoryIn(Strict):
    code: Text = Field(min_length=1, max_length=32)
    name: Text = Field(min_length=1, max_length=255)
    departement: str | None = Field(None, pattern=r"^([0-9]{2,3}|2[AB])$")
    places: list[PlaceIn] = Field(default_factory=list)


class VersionIn(Strict):
    source: Text = Field(min_length=1, max_length=2000, description="Where the list comes from (dataset, date, URL)")
    note: Annotated[str, AfterValidator(_no_nul)] | None = Field(None, max_length=2000)
    territories: list[TerritoryIn] = Field(max_length=500)


@router.get("/territories", response_model=VersionOut, summary="The current version of the employment-training territories",
            responses={404: {"description": "No version published yet"}})
async def current_territories(principal: CurrentPrincipal, db: DbSession):
    current = await store.current_version(db)
    if current is None:
        raise NotFound("No territories version has been published yet (PUT /territories)")
    return await version_out(db, current, current)


@router.get("/territories/versions", response_model=list[VersionSummary], summary="Every published version, oldest first")
async def list_territory_versions(principal: CurrentPrincipal, db: DbSession):
    return [version_summary_out(row, n) for row, n in await store.versions(db)]


@router.get("/territories/versions/{version}", response_model=VersionOut, summary="One version, current or not")
async def get_territory_version(version: Annotated[int, Path(ge=1, le=2**31 - 1)], principal: CurrentPrincipal, db: DbSession):
    return await version_out(db, version, await store.current_version(db))


@router.put(
    "/territories", status_code=201, response_model=VersionOut,
    summary="Publish a new version (Region): it replaces the current one, which is kept; sessions are placed again",
    responses={409: {"description": "A territory code appears twice, or another version was published at the same time"}},
)
async def put_territories(body: VersionIn, principal: Region, db: DbSession, runtime: RuntimeDep):
    territories = [t.model_dump() for t in body.territories]
    problems = version_problems(territories)
    if problems:  # two definitions of one territory: they conflict (409), the body's shape is fine
        field, message = problems[0]
        raise Conflict("; ".join(m for _, m in problems), field=field)
    try:
        version = await publish_version(db, runtime, source=body.source, note=body.note, territories=territories, actor=principal.describe())
    except IntegrityError:
        raise Conflict("another version was published at the same time; read /territories/versions and try again") from None
    return await version_out(db, version, version)
