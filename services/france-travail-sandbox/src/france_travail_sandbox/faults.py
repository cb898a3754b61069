"""Fault injection: down, 5xx, timeouts, slow answers, refusals by code, duplicate answers."""

from __future__ import annotations

import asyncio

from pydantic import BaseModel

from france_travail_sandbox import contract as c


class Unavailable(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


class FaultCounters(BaseModel):
    down: int = 0
    errors: int = 0
    timeouts: int = 0
    refusals: int = 0
    duplicates: int = 0


class FaultInjector:
    def __init__(self) -> None:
        self.faults = c.Faults()
        self.counters = FaultCounters()

    def set(self, faults: c.Faults) -> None:
        self.faults = faults

    async def before(self, kind: str, identifier: str) -> c.Refusal | None:
        """Latency, then maybe unavailable (nothing processed) or a refusal by code."""
        faults = self.faults
        if faults.latency_ms:
            await asyncio.sleep(faults.latency_ms / 1000)
        if faults.down:
            self.counters.down += 1
            raise Unavailable(503, "Injected fault: France Travail is down")
        if faults.errors_next:
            faults.errors_next -= 1
            self.counters.errors += 1
            raise Unavailable(500, "Injected fault: internal error")
        for rule in faults.refusals:
            if rule.remaining > 0 and rule.kind in ("*", kind) and rule.france_travail_id in (None, identifier):
                rule.remaining -= 1
                self.counters.refusals += 1
                return c.Refusal(code=rule.code, message=rule.message)
        return None

    async def after(self) -> None:
        """Once processed: maybe answer late (a timeout) or lose the answer (a duplicate follows)."""
        faults = self.faults
        if faults.timeouts_next:
            faults.timeouts_next -= 1
            self.counters.timeouts += 1
            await asyncio.sleep(faults.timeout_delay_s)
        if faults.duplicates_next:
            faults.duplicates_next -= 1
            self.counters.duplicates += 1
            raise Unavailable(503, "Injected fault: answer lost (the resend gets it again)")
