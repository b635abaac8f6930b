"""The processes tests and benchmarks start get a clean environment: a setting exported in
the shell that runs the tests never reaches the system under test."""

import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.processes import ServiceProcess

LEAKS = {
    "ADMIN_TOKEN": "exported-by-the-developer",
    "SMTP_HOST": "smtp.example.com",
    "PREFETCH_COUNT": "1",
    "DATABASE_URL": "postgresql://elsewhere/db",
    "AMQP_URL": "amqp://elsewhere/",
    "LOG_FORMAT": "json",
    "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317",
}


def test_a_variable_exported_by_the_caller_does_not_reach_a_service_process(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name, value in LEAKS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PATH", "/usr/local/bin:/usr/bin")
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    started: dict[str, Any] = {}

    class Recorded:
        def __init__(self, args: list[str], **options: Any) -> None:
            started.update(options, args=args)

    monkeypatch.setattr(subprocess, "Popen", Recorded)

    ServiceProcess("order", {"AMQP_URL": "amqp://test/"}, tmp_path).start()

    env = started["env"]
    assert [name for name, value in LEAKS.items() if env.get(name) == value] == []
    assert env["AMQP_URL"] == "amqp://test/", "what the test passes is all it is configured by"
    assert env["PATH"] == "/usr/local/bin:/usr/bin"
    assert env["LC_ALL"] == "C.UTF-8"
    assert env["PYTHONUNBUFFERED"] == "1"
    assert started["args"][1:] == ["-m", "order_service"]
