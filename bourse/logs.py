"""Structured logs: one JSON object a line on stderr.

Invariants: every record has ``ts`` (ms), ``level``, ``process`` and ``msg``, and the
fields a process gives once (a gateway worker its ``worker`` pid); extra fields given as
``logger.info("...", extra={"fields": {...}})`` are merged in, so a request id can be
followed from the gateway through the actors.
"""

from __future__ import annotations

import logging
import os
import sys
import time

import msgspec

_encoder = msgspec.json.Encoder()


class JsonFormatter(logging.Formatter):
    def __init__(self, process: str, fields: dict[str, object] | None = None) -> None:
        super().__init__()
        self._process = process
        self._fields = fields or {}

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": int(record.created * 1000),
            "level": record.levelname.lower(),
            "process": self._process,
            "logger": record.name,
            "msg": record.getMessage(),
            **self._fields,
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return _encoder.encode(entry).decode()


def setup_logging(process: str, **fields: object) -> None:
    """JSON lines on stderr at ``$BOURSE_LOG_LEVEL`` (default info; debug logs every
    request with its request id); ``fields`` go into every line."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(process, fields))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(os.environ.get("BOURSE_LOG_LEVEL", "INFO").upper())


def now_ms() -> int:
    return time.time_ns() // 1_000_000
