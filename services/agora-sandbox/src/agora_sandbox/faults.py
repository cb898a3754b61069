"""Fault injection: latency, a rate of 503s, late answers, rejections with chosen codes."""

from __future__ import annotations

import asyncio
import random
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from agora_sandbox import contract as c
from agora_sandbox.errors import Reply
from agora_sandbox.settings import AgoraSandboxSettings
from agora_sandbox.store import SandboxStore


class NumbersNotBooleans(BaseModel):
    """Closed, and a number is a number: `false` is not 0 seconds (pydantic alone takes it)."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _no_booleans(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("a number, not a boolean")
        return value


class RejectionRule(NumbersNotBooleans):
    operation: str = Field("*", description="Operation to reject (create, enter, …, bulk_load) or * for any")
    code: str
    message: str = "Rejected by fault injection"
    remaining: int = Field(1, ge=1, description="How many calls to reject")
    http_status: int = Field(422, ge=400, le=499)


class Faults(NumbersNotBooleans):
    # bounded: a fault lasts seconds, not hours (the gateway times out after 5 s)
    latency_min_ms: int = Field(0, ge=0, le=5000)
    latency_max_ms: int = Field(0, ge=0, le=5000)
    error_rate: float = Field(0.0, ge=0, le=1, description="Share of calls answered 503, not processed")
    timeout_rate: float = Field(
        0.0, ge=0, le=1, description="Share of calls processed then answered after timeout_delay_s"
    )
    timeout_delay_s: float = Field(15.0, ge=0, le=15)
    rejections: list[RejectionRule] = Field(default_factory=list)


class FaultCounters(BaseModel):
    errors: int = 0
    timeouts: int = 0
    rejections: int = 0


class FaultInjector:
    """The faults switched on, what they did, and the two points a call goes through."""

    def __init__(self, settings: AgoraSandboxSettings, store: SandboxStore):
        self.store = store
        self.rng = random.Random(settings.random_seed)
        self.faults = Faults(
            latency_min_ms=settings.latency_min_ms,
            latency_max_ms=settings.latency_max_ms,
            error_rate=settings.error_rate,
            timeout_rate=settings.timeout_rate,
            timeout_delay_s=settings.timeout_delay_s,
        )
        self.counters = FaultCounters()

    def reset(self) -> None:
        self.faults, self.counters = Faults(), FaultCounters()

    async def before(self, operation: str) -> bool:
        """Latency, then maybe a 503 or a rejection (nothing processed). Returns whether to answer late."""
        faults = self.faults
        if faults.latency_max_ms > 0:
            high = max(faults.latency_min_ms, faults.latency_max_ms)
            await asyncio.sleep(self.rng.uniform(faults.latency_min_ms, high) / 1000)
        if faults.error_rate and self.rng.random() < faults.error_rate:
            self.counters.errors += 1
            raise Reply(503, {"status": "error", "code": "unavailable", "message": "Injected fault: service unavailable"})
        for rule in faults.rejections:
            if rule.remaining > 0 and rule.operation in ("*", operation):
                rule.remaining -= 1
                self.counters.rejections += 1
                self.store.count_rejection(rule.code)
                raise Reply(rule.http_status, c.Rejection(code=rule.code, message=rule.message).model_dump())
        return bool(faults.timeout_rate) and self.rng.random() < faults.timeout_rate

    async def late(self, answer_late: bool) -> None:
        if answer_late:
            self.counters.timeouts += 1
            await asyncio.sleep(self.faults.timeout_delay_s)
