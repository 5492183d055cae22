"""Request ids: one per HTTP request, in its response, its errors and its log lines.

A caller may send ``x-request-id`` (letters, digits, ``-_.:``, at most 64
characters) to correlate its own logs; otherwise the service makes one.
"""

from __future__ import annotations

import logging
import re
import uuid
from contextvars import ContextVar

HEADER = "x-request-id"
_VALID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_current: ContextVar[str] = ContextVar("request_id", default="")


def start(sent: str | None) -> object:
    """Set the id of the request being handled; returns a token for ``finish``."""
    value = sent if sent and _VALID.fullmatch(sent) else uuid.uuid4().hex
    return _current.set(value)


def finish(token: object) -> None:
    _current.reset(token)


def current() -> str:
    return _current.get()


_installed = False
UNPREFIXED = {"licensing.telemetry"}


def install() -> None:
    """Stamp every log record with ``request_id``, and the service's own with a prefix.

    A record factory sees every record, whichever handlers the host attaches.
    """
    global _installed
    if _installed:
        return

    previous = logging.getLogRecordFactory()

    def factory(*args, **kwargs) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        record.request_id = current()
        own = record.name == "licensing" or record.name.startswith("licensing.")
        # Telemetry lines are JSON documents of fixed fields; they keep the id
        # as the record attribute only.
        if record.request_id and own and record.name not in UNPREFIXED:
            record.msg = f"[{record.request_id}] {record.msg}"
        return record

    logging.setLogRecordFactory(factory)
    _installed = True
