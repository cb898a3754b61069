"""Today's business date, from the app's clock (tests pass a fixed one): the as-of day of the
result indicators and the retention cutoffs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated

from fastapi import Depends, Request
from pacte_common.clock import business_today, utcnow

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return utcnow()


def get_today(request: Request) -> date:
    clock: Clock = request.app.state.clock
    return business_today(request.app.state.runtime.settings.business_timezone, clock())


Today = Annotated[date, Depends(get_today)]
