from pathlib import Path

import pytest
from pydantic import ValidationError

from inventory_service.config import InventorySettings
from notification_service.config import NotificationSettings
from order_service.config import OrderSettings
from shared.process.settings import ServiceSettings

SERVICES = [
    pytest.param(OrderSettings, "order", 8000, id="order"),
    pytest.param(InventorySettings, "inventory", 8001, id="inventory"),
    pytest.param(NotificationSettings, "notification", 8002, id="notification"),
]


def test_retry_delays_are_read_from_a_comma_separated_list(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RETRY_DELAYS", "0.5,2,10")

    assert OrderSettings().retry_delays == (0.5, 2.0, 10.0)


def test_spaces_in_retry_delays_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETRY_DELAYS", " 1, 2 ,3 ")

    assert OrderSettings().retry_delays == (1.0, 2.0, 3.0)


@pytest.mark.parametrize("delays", ["0", "1,0", "2,-1"])
def test_non_positive_retry_delays_are_rejected(
    monkeypatch: pytest.MonkeyPatch, delays: str
) -> None:
    monkeypatch.setenv("RETRY_DELAYS", delays)

    with pytest.raises(
        ValidationError, match="every retry delay must be a finite number of seconds"
    ):
        OrderSettings()


def test_a_retry_delay_that_is_not_a_number_is_rejected(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RETRY_DELAYS", "1,soon")

    with pytest.raises(ValidationError, match="retry_delays"):
        OrderSettings()


@pytest.mark.parametrize("delays", ["nan", "1,inf"])
def test_non_finite_retry_delays_are_rejected(monkeypatch: pytest.MonkeyPatch, delays: str) -> None:
    monkeypatch.setenv("RETRY_DELAYS", delays)

    with pytest.raises(ValidationError):
        OrderSettings()


@pytest.mark.parametrize(
    ("delays", "attempts"), [("", 1), ("5", 2), ("0.5,2,10", 4)], ids=["none", "one", "three"]
)
def test_max_attempts_is_one_more_than_the_retry_delays(
    monkeypatch: pytest.MonkeyPatch, delays: str, attempts: int
) -> None:
    monkeypatch.setenv("RETRY_DELAYS", delays)

    assert OrderSettings().max_attempts == attempts


def test_default_retry_delays_give_four_attempts() -> None:
    settings = OrderSettings()

    assert settings.retry_delays == (1.0, 5.0, 30.0)
    assert settings.max_attempts == 4


@pytest.mark.parametrize(("settings_class", "service", "port"), SERVICES)
def test_the_database_defaults_to_a_sqlite_file_named_after_the_service(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    settings_class: type[ServiceSettings],
    service: str,
    port: int,
) -> None:
    monkeypatch.setenv("VAR_DIR", str(tmp_path))

    url = settings_class().resolved_database_url

    assert url == f"sqlite:///{tmp_path}/{service}.db"


def test_the_default_var_dir_is_var() -> None:
    assert OrderSettings().resolved_database_url == "sqlite:///var/order.db"


def test_an_explicit_database_url_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://u:p@db/orders")

    assert OrderSettings().resolved_database_url == "postgresql+asyncpg://u:p@db/orders"


@pytest.mark.parametrize(("settings_class", "service", "port"), SERVICES)
def test_each_service_listens_on_its_own_port_when_http_port_is_unset(
    settings_class: type[ServiceSettings], service: str, port: int
) -> None:
    settings = settings_class()

    assert settings.service_name == service
    assert settings.http_port == port


@pytest.mark.parametrize(("settings_class", "service", "port"), SERVICES)
def test_http_port_from_the_environment_overrides_the_default(
    monkeypatch: pytest.MonkeyPatch, settings_class: type[ServiceSettings], service: str, port: int
) -> None:
    monkeypatch.setenv("HTTP_PORT", "9123")

    assert settings_class().http_port == 9123


def test_environment_names_are_case_insensitive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("amqp_url", "amqp://u:p@rabbit:5672/orders")

    assert OrderSettings().amqp_url == "amqp://u:p@rabbit:5672/orders"


@pytest.mark.parametrize(("value", "version"), [("1", 1), ("2", 2)])
def test_the_order_placed_version_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, value: str, version: int
) -> None:
    monkeypatch.setenv("ORDER_PLACED_VERSION", value)

    assert OrderSettings().order_placed_version == version


@pytest.mark.parametrize("value", ["0", "3", "two"])
def test_an_order_placed_version_nobody_knows_is_refused(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("ORDER_PLACED_VERSION", value)

    with pytest.raises(ValidationError):
        OrderSettings()
