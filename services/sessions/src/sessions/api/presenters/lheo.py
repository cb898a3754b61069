"""Rendering of api/lheo.py's answers."""

from __future__ import annotations

from sessions.api.schemas import MappingOut, PullRunOut
from sessions.db.models import LheoProgrammeMapping, LheoPullRun


def mapping_out(mapping: LheoProgrammeMapping) -> MappingOut:
    return MappingOut(kind=mapping.kind, code=mapping.code, programme_code=mapping.programme.code,  # type: ignore[arg-type]
                      updated_by=mapping.updated_by, updated_at=mapping.updated_at)


def pull_run_out(run: LheoPullRun) -> PullRunOut:
    return PullRunOut.model_validate(run, from_attributes=True)
