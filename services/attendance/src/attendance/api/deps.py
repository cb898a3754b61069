"""What the routes share: the service's settings, server time, the evidence of a request."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request

from attendance.app.context import Evidence, now
from attendance.settings import AttendanceSettings


def get_settings(request: Request) -> AttendanceSettings:
    return request.app.state.attendance_settings


Settings = Annotated[AttendanceSettings, Depends(get_settings)]


def get_now(request: Request) -> datetime:
    return now(request.app.state.attendance_settings)


Now = Annotated[datetime, Depends(get_now)]


def evidence_of(request: Request, device: str | None) -> Evidence:
    """The request's evidence (hashed IP, user agent, device id): the one definition, routes and pages."""
    client = request.client.host if request.client else None
    return Evidence.of(request.app.state.attendance_settings, client, request.headers.get("user-agent"), device)


def get_evidence(request: Request) -> Evidence:
    return evidence_of(request, request.cookies.get("pacte_device"))


RequestEvidence = Annotated[Evidence, Depends(get_evidence)]
