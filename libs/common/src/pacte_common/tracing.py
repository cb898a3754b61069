"""W3C trace context carried from the first HTTP call through every event (docs/conventions.md §1.5)."""

from __future__ import annotations

import os
import re
from contextvars import ContextVar

_TRACEPARENT_RE = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")

current_traceparent: ContextVar[str | None] = ContextVar("current_traceparent", default=None)


def new_traceparent(trace_id: str | None = None) -> str:
    return f"00-{trace_id or os.urandom(16).hex()}-{os.urandom(8).hex()}-01"


def parse_traceparent(value: str | None) -> str | None:
    """Returns the value if it is a valid traceparent, else None."""
    if value and _TRACEPARENT_RE.match(value.strip().lower()):
        return value.strip().lower()
    return None


def trace_id_of(traceparent: str | None) -> str | None:
    match = _TRACEPARENT_RE.match(traceparent or "")
    return match.group(1) if match else None


def child_traceparent() -> str:
    """A new span of the current trace (or a new trace when there is none)."""
    return new_traceparent(trace_id_of(current_traceparent.get()))


class adopt_trace:
    """Context manager: continue the trace of an aggregate (stored traceparent) instead of the
    current request's, so every event of one file carries the trace of the call that started it.

        with adopt_trace(prescription.traceparent):
            await runtime.outbox.publish(...)
    """

    def __init__(self, traceparent: str | None):
        self.traceparent = parse_traceparent(traceparent)
        self._token = None

    def __enter__(self):
        if self.traceparent:
            self._token = current_traceparent.set(self.traceparent)
        return self

    def __exit__(self, *exc):
        if self._token is not None:
            current_traceparent.reset(self._token)
        return False


def current_trace_id() -> str | None:
    return trace_id_of(current_traceparent.get())
