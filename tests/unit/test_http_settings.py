"""The HTTP limits come from the environment, and `python -m <service>` serves with them."""

import pytest
from fastapi import FastAPI

from order_service.config import OrderSettings
from shared.process.serve import server_config


def test_the_http_limits_have_defaults_for_a_service_on_its_own() -> None:
    settings = OrderSettings()

    assert (
        settings.max_body_bytes,
        settings.http_read_timeout,
        settings.http_keep_alive_timeout,
        settings.http_max_header_bytes,
        settings.http_max_connections,
    ) == (64 * 1024, 10.0, 5, 16 * 1024, 512)


def test_the_server_is_configured_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "MAX_BODY_BYTES": "4096",
        "HTTP_READ_TIMEOUT": "2.5",
        "HTTP_KEEP_ALIVE_TIMEOUT": "3",
        "HTTP_MAX_HEADER_BYTES": "8192",
        "HTTP_MAX_CONNECTIONS": "64",
    }.items():
        monkeypatch.setenv(name, value)
    settings = OrderSettings()

    config = server_config(settings, FastAPI())

    assert settings.max_body_bytes == 4096
    assert settings.http_read_timeout == 2.5
    assert config.timeout_keep_alive == 3
    assert (config.http.max_head_bytes, config.http.read_timeout) == (8192, 2.5)  # type: ignore[union-attr]
    assert config.limit_concurrency == 64
    assert config.ws == "none"
    assert isinstance(config.http, type) and config.http.__name__ == "BoundedHttpTools"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MAX_BODY_BYTES", "100"),
        ("HTTP_READ_TIMEOUT", "0"),
        ("HTTP_KEEP_ALIVE_TIMEOUT", "0"),
        ("HTTP_MAX_HEADER_BYTES", "10"),
        ("HTTP_MAX_CONNECTIONS", "0"),
    ],
)
def test_a_limit_that_would_refuse_everything_is_refused(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)

    with pytest.raises(ValueError, match=name.lower()):
        OrderSettings()
