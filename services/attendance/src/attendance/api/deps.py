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


def get_evidence(request: Request) -> Evidence:
    settings = request.app.state.attendance_settings
    client = request.client.host if request.client else None
    return Evidence.of(settings, client, request.headers.get("user-agent"), request.cookies.get("pacte_device"))


RequestEvidence = Annotated[Evidence, Depends(get_evidence)]
