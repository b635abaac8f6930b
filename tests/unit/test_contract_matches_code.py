"""The contract the AsyncAPI document is made from says what the code does, so the document
cannot drift from it: each service subscribes its queues to the handlers SUBSCRIBERS names
(and the audit service reads the streams STREAM_READERS says),
each producer publishes its events to the exchange EXCHANGE_OF names with the dataschema of
their version, and the retry queues are those of the default delays."""

from pathlib import Path
from typing import Any

import pytest

from audit_service.config import AuditSettings
from audit_service.entrypoints.app import create_app as audit_app
from inventory_service.config import InventorySettings
from inventory_service.domain.model import StockLevel
from inventory_service.entrypoints.app import create_app as inventory_app
from inventory_service.handlers import reserve_stock
from notification_service.config import NotificationSettings
from notification_service.entrypoints.app import create_app as notification_app
from order_service.config import OrderSettings
from order_service.domain.model import OrderLine
from order_service.entrypoints.app import create_app as order_app
from order_service.handlers import PlaceOrder, place_orders
from shared.contract.events import PRODUCER_OF, SCHEMAS, schema_uri
from shared.contract.topology import (
    DEFAULT_RETRY_DELAYS,
    EXCHANGE_OF,
    QUEUES,
    STREAM_READERS,
    STREAMS,
    SUBSCRIBERS,
    QueueSpec,
)
from shared.core.handlers import Handler, Subscription
from shared.process.settings import ServiceSettings
from tests.unit.fakes import FakeInventoryUnitOfWork, FakeOrderUnitOfWork, order_placed, staged


def test_each_service_subscribes_each_queue_to_the_handlers_the_contract_declares(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    subscribed: dict[str, list[tuple[QueueSpec, dict[str, str]]]] = {}
    service = ""
    original = Subscription.of

    def recording(queue: QueueSpec, handlers: Any) -> Subscription[Any]:
        listed: list[Handler[Any, Any]] = list(handlers)
        by_type = {handler.event_type: handler.data.version for handler in listed}
        subscribed.setdefault(service, []).append((queue, by_type))
        return original(queue, listed)

    monkeypatch.setattr(Subscription, "of", staticmethod(recording))
    for service, factory, settings in (
        ("order", order_app, OrderSettings),
        ("inventory", inventory_app, InventorySettings),
        ("notification", notification_app, NotificationSettings),
    ):
        factory(settings(database_url=f"sqlite:///{tmp_path}/{service}.db", var_dir=str(tmp_path)))

    declared: dict[str, list[tuple[QueueSpec, dict[str, str]]]] = {}
    for subscriber in SUBSCRIBERS:
        declared.setdefault(subscriber.service, []).append(
            (subscriber.queue, dict(subscriber.handles))
        )
    assert subscribed == declared


def test_the_audit_service_reads_the_streams_the_contract_says(tmp_path: Path) -> None:
    app = audit_app(
        AuditSettings(database_url=f"sqlite:///{tmp_path}/audit.db", var_dir=str(tmp_path))
    )

    read = {(app.state.stream_reader.stream.name, "audit")}

    assert read == {(name, r) for name, readers in STREAM_READERS.items() for r in readers}
    assert set(STREAM_READERS) == {stream.name for stream in STREAMS}


def test_every_work_queue_has_one_subscriber_and_every_handled_version_a_schema() -> None:
    assert sorted(s.queue.name for s in SUBSCRIBERS) == sorted(q.name for q in QUEUES)
    for subscriber in SUBSCRIBERS:
        for event_type, version in subscriber.handles.items():
            assert SCHEMAS.model(event_type, version) is not None, (event_type, version)
            assert EXCHANGE_OF[event_type] == subscriber.queue.exchange


def test_every_event_type_has_one_producer_and_one_exchange() -> None:
    types = {model.event_type for model in SCHEMAS.models()}

    assert set(PRODUCER_OF) == types
    assert set(EXCHANGE_OF) == types


@pytest.mark.parametrize("version", [1, 2])
def test_the_order_service_publishes_order_placed_where_the_contract_says(version: int) -> None:
    uow = FakeOrderUnitOfWork()
    command = PlaceOrder(customer_id="c-1", email=None, items=[OrderLine("A", 1)])

    place_orders([command], uow, publish_version=version)

    (message,) = staged(uow)
    event = message.event
    assert message.exchange == EXCHANGE_OF[event.type]
    assert PRODUCER_OF[event.type] == "order"
    assert event.dataversion == str(version)
    assert event.dataschema == schema_uri(event.type, event.dataversion)


@pytest.mark.parametrize("available", [10, 0], ids=["reserved", "rejected"])
def test_the_inventory_service_publishes_its_outcomes_where_the_contract_says(
    available: int,
) -> None:
    uow = FakeInventoryUnitOfWork(StockLevel("A", available))

    reserve_stock([order_placed([("A", 2)])], uow)

    (message,) = staged(uow)
    event = message.event
    assert message.exchange == EXCHANGE_OF[event.type]
    assert PRODUCER_OF[event.type] == "inventory"
    assert event.dataschema == schema_uri(event.type, event.dataversion)


def test_the_retry_queues_in_the_document_are_those_of_the_default_delays() -> None:
    assert ServiceSettings.model_fields["retry_delays"].default == DEFAULT_RETRY_DELAYS
