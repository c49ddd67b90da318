"""JSON logs on standard error, one object a line; a line written within a traced request or a
consumed event carries its ``trace_id`` and ``span_id``."""

from __future__ import annotations

import logging
import sys

from pythonjsonlogger.json import JsonFormatter

from ostan_kit.runtime.telemetry import current_ids


class TraceIds(logging.Filter):
    """Adds the current span's ``trace_id`` and ``span_id`` to a record (none outside a span)."""

    def filter(self, record: logging.LogRecord) -> bool:
        trace_id, span_id = current_ids()
        if trace_id:
            record.trace_id = trace_id
            record.span_id = span_id
        return True


def configure_logging(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            static_fields={"service": service},
            json_ensure_ascii=False,
        )
    )
    handler.addFilter(TraceIds())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
