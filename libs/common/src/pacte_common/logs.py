"""Structured JSON logs with the trace id, scrubbed of NIR and IBAN (docs/rules.md §7): a value is
redacted when it has the shape of one and its check digits hold (docs/security.md)."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Callable

from pythonjsonlogger.json import JsonFormatter

from pacte_common.tracing import current_traceparent, trace_id_of
from pacte_common.validators import validate_iban, validate_nir

# A NIR (15 chars, Corsican 2A/2B allowed, optional separators) and an IBAN (FR76 …, by
# groups of 4), never inside a longer token such as a UUID.
_NIR_PATTERN = re.compile(r"(?<![\w-])[1-478][\s.]?\d{2}[\s.]?\d{2}[\s.]?(?:\d{2}|2[AB])[\s.]?\d{3}[\s.]?\d{3}[\s.]?\d{2}(?![\w-])", re.I)
_IBAN_PATTERN = re.compile(r"(?<![\w-])[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,4})?(?![\w-])", re.I)


# The NIR as sent to AGORA: its first 13 characters, without the key.
_NIR13_PATTERN = re.compile(r"(?<![\w-])[1-478]\d{4}(?:\d{2}|2[AB])\d{6}(?![\w-])", re.I)


def _checked(label: str, validate: Callable[[str], object]) -> Callable[[re.Match[str]], str]:
    """A substitution that redacts a match only when it is a real one: its check digits hold
    (a hex id such as an Alembic revision looks like an IBAN by shape alone)."""

    def replace(match: re.Match[str]) -> str:
        try:
            validate(match.group())
        except ValueError:
            return match.group()
        return label

    return replace


def _nir13_ok(value: str) -> None:
    """The key-less NIR sent to AGORA: no check digits to test, the birth month must be one."""
    month = int(value[3:5])
    if not (1 <= month <= 12 or 20 <= month <= 42 or 50 <= month <= 99):
        raise ValueError("not a NIR birth month")


def redact(text: str) -> str:
    text = _NIR_PATTERN.sub(_checked("[NIR]", validate_nir), text)
    text = _NIR13_PATTERN.sub(_checked("[NIR]", _nir13_ok), text)
    return _IBAN_PATTERN.sub(_checked("[IBAN]", validate_iban), text)


def _redact_value(value):
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: _redact_value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_redact_value(item) for item in value)
    return value


def scrub_record(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # a bad format string must not lose the line
        message = str(record.msg)
    record.msg = redact(message)
    record.args = None
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = redact(record.exc_text)
    # The exception object still holds the clear values; handlers use exc_text instead.
    record.exc_info = None
    for name, value in list(vars(record).items()):
        if name not in _STANDARD_ATTRS and isinstance(value, (str, dict, list, tuple)):
            setattr(record, name, _redact_value(value))


class TraceIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.trace_id = trace_id_of(current_traceparent.get())
        return True


_STANDARD_ATTRS = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message"}


def configure_logging(service: str, level: str = "INFO", json_output: bool = True) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if json_output:
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s %(trace_id)s",
                static_fields={"service": service},
                timestamp=False,
            )
        )
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    handler.addFilter(TraceIdFilter())
    install_redaction()  # every record is scrubbed once, when made (see install_redaction)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    for noisy in ("aiokafka", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # uvicorn installs its own handlers; route them through ours so they are scrubbed too.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True


_redaction_installed = False


def install_redaction() -> None:
    """Scrubs every log record when it is made (extras included), whatever handler or test
    capture receives it: `Logger.makeRecord` is the one place all records pass through."""
    global _redaction_installed
    if _redaction_installed:
        return
    original_make_record = logging.Logger.makeRecord

    def make_record(self, *args, **kwargs) -> logging.LogRecord:
        record = original_make_record(self, *args, **kwargs)
        scrub_record(record)
        return record

    logging.Logger.makeRecord = make_record
    _redaction_installed = True
