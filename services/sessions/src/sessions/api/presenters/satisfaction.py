"""Rendering of api/satisfaction.py's answers."""

from __future__ import annotations

from sessions.api.schemas import SatisfactionImportOut
from sessions.app.satisfaction import ImportReport


def satisfaction_import_out(report: ImportReport) -> SatisfactionImportOut:
    return SatisfactionImportOut(**report.__dict__)
