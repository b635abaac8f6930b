"""Log lines cannot be forged: what a client sent, logged as text, stays on its own line."""

import io
import logging
from collections.abc import Iterator

import orjson
import pytest

from shared.process.logs import configure_logging

FORGED = "c-42\n2024-05-01 12:00:00,000 INFO    order admin: token accepted"


@pytest.fixture(autouse=True)
def logging_restored() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def configured(fmt: str) -> io.StringIO:
    """Logging as a service sets it up, writing to a buffer instead of stdout."""
    configure_logging("order", fmt=fmt)
    out = io.StringIO()
    (handler,) = logging.getLogger().handlers
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(out)
    return out


def test_a_newline_in_a_logged_value_does_not_start_a_line_in_text_logs() -> None:
    captured = configured("text")

    logging.getLogger("order.test").info("order placed for %s", FORGED)

    lines = captured.getvalue().splitlines()
    assert len(lines) == 1
    assert lines[0].endswith(
        "order placed for c-42\\n2024-05-01 12:00:00,000 INFO    order admin: token accepted"
    )


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("a\rb", "a\\rb"),
        ("nul\x00", "nul\\x00"),
        ("\x1b[2Jcleared", "\\x1b[2Jcleared"),
        ("del\x7f", "del\\x7f"),
        ("next\x85line", "next\\x85line"),
        ("line\u2028sep", "line\\u2028sep"),
        ("tab\tstays", "tab\tstays"),
        ("café ✓", "café ✓"),
    ],
    ids=["cr", "nul", "ansi-escape", "del", "c1-next-line", "line-separator", "tab", "unicode"],
)
def test_text_logs_show_control_characters_escaped(value: str, shown: str) -> None:
    captured = configured("text")

    logging.getLogger("order.test").warning("customer %s", value)

    assert captured.getvalue().endswith(f"order.test: customer {shown}\n")


def test_a_traceback_after_a_text_log_line_keeps_its_lines() -> None:
    captured = configured("text")

    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("order.test").exception("failed for %s", "a\nb")

    first, *traceback = captured.getvalue().splitlines()
    assert first.endswith("failed for a\\nb")
    assert traceback[0] == "Traceback (most recent call last):"
    assert traceback[-1] == "ValueError: boom"


def test_json_logs_keep_the_value_exact_on_one_line() -> None:
    captured = configured("json")

    logging.getLogger("order.test").info("order placed for %s", FORGED)

    (line,) = captured.getvalue().splitlines()
    assert orjson.loads(line)["msg"] == f"order placed for {FORGED}"


def test_a_json_line_written_inside_a_span_carries_its_trace_and_span_ids() -> None:
    from opentelemetry.sdk.trace import TracerProvider

    from shared.process.logs import JsonFormatter

    tracer = TracerProvider().get_tracer("test")
    record = logging.makeLogRecord({"msg": "handled", "levelname": "INFO", "event_id": "e-1"})
    with tracer.start_as_current_span("process q") as span:
        line = orjson.loads(JsonFormatter("inventory").format(record))
    context = span.get_span_context()

    assert line["trace_id"] == f"{context.trace_id:032x}"
    assert line["span_id"] == f"{context.span_id:016x}"
    assert line["event_id"] == "e-1"


def test_a_json_line_outside_any_span_has_no_trace_fields() -> None:
    from shared.process.logs import JsonFormatter

    record = logging.makeLogRecord({"msg": "idle", "levelname": "INFO"})

    assert "trace_id" not in orjson.loads(JsonFormatter("order").format(record))
