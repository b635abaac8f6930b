"""Logging set-up: human-readable text locally, one JSON object per line in containers.

A log line is one line: text logs escape the control characters of a message (what a
client sent, a customer id with a newline in it, must not forge a line of its own or
drive the terminal); JSON logs are escaped by JSON itself."""

import logging
import sys
from datetime import UTC, datetime

import orjson

from shared.telemetry.tracing import span_ids

# Not written as fields: the record's own attributes, and uvicorn's `color_message` (the
# message again, with ANSI colour escapes).
_STANDARD = set(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}


# C0 and C1 control characters, DEL, and the Unicode line and paragraph separators: each
# as a visible escape (\n, \x00, \u2028...). A tab is harmless and left as it is.
_ESCAPES = {
    code: ascii(chr(code))[1:-1]
    for code in (*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029)
    if code != 0x09
}


def escape_controls(text: str) -> str:
    return text.translate(_ESCAPES)


class TextFormatter(logging.Formatter):
    """One line per record (a traceback after it stays as Python writes it)."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return escape_controls(super().formatMessage(record))


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self._service,
            "logger": record.name,
            "msg": record.getMessage(),
            **span_ids(),  # the request's or message's span, when one is being traced
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def configure_logging(service: str, level: str = "INFO", fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stdout)
    if fmt == "json":
        handler.setFormatter(JsonFormatter(service))
    else:
        handler.setFormatter(
            TextFormatter(f"%(asctime)s %(levelname)-7s {service} %(name)s: %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiormq/aio-pika narrate every reconnect attempt at INFO/WARNING; ours say it once.
    logging.getLogger("aiormq").setLevel(max(root.level, logging.WARNING))
    logging.getLogger("aio_pika").setLevel(max(root.level, logging.WARNING))
