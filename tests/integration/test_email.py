"""Notifications go out as real e-mail over SMTP (an in-process aiosmtpd server here):
once per (order, kind), with a stable Message-ID, retried with back-off while the mail
server is away, and a send under way when the service stops finished and marked, not cut off
(the next instance would mail it again)."""

import asyncio
import email
import threading
from collections.abc import Awaitable, Callable, Iterator
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import create_engine, select

from notification_service.adapters.tables import notifications
from notification_service.config import NotificationSettings
from notification_service.entrypoints.app import create_app
from shared.contract.topology import INVENTORY_EVENTS, ORDER_EVENTS
from tests import factories
from tests.support.broker import BrokerProbe
from tests.support.polling import eventually
from tests.support.processes import free_port
from tests.support.services import get_json, running

DatabaseUrl = Callable[[str], Awaitable[str]]


class MailSink:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def smtp_port() -> int:
    return free_port()


@pytest.fixture
def mail_server(smtp_port: int) -> Iterator[tuple[Controller, MailSink]]:
    sink = MailSink()
    controller = Controller(sink, hostname="127.0.0.1", port=smtp_port)
    yield controller, sink
    if getattr(controller, "_thread", None) is not None:
        controller.stop()


def settings_for(broker_url: str, database: str, smtp_port: int) -> NotificationSettings:
    return NotificationSettings(
        amqp_url=broker_url,
        database_url=database,
        smtp_host="127.0.0.1",
        smtp_port=smtp_port,
        smtp_from="shop@example.com",
        dispatch_retry_base_seconds=0.2,
    )


@pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)
async def test_each_notification_is_mailed_once_with_a_stable_message_id(
    broker_url: str,
    database_url: DatabaseUrl,
    smtp_port: int,
    mail_server: tuple[Controller, MailSink],
) -> None:
    controller, sink = mail_server
    controller.start()
    settings = settings_for(broker_url, await database_url("notification"), smtp_port)
    placed = factories.order_placed([("SKU-1", 1)], email="ada@example.com")
    order_id = placed.data["order_id"]
    reserved = factories.stock_reserved(order_id, [("SKU-1", 1)])
    # No e-mail field: nothing is mailed, even when the customer id looks like an address.
    no_email = factories.order_placed([("SKU-1", 1)], email=None, customer_id="eve@example.org")
    async with BrokerProbe(broker_url) as probe, running(create_app(settings)) as (_, http):
        for _ in range(3):
            await probe.publish(
                ORDER_EVENTS, factories.body(placed), **factories.properties(placed)
            )
            await probe.publish(
                INVENTORY_EVENTS, factories.body(reserved), **factories.properties(reserved)
            )
        await probe.publish(
            ORDER_EVENTS, factories.body(no_email), **factories.properties(no_email)
        )
        sent = await eventually(
            lambda: get_json(http, f"/notifications?order_id={order_id}"),
            lambda found: len(found) == 2 and all(n["status"] == "sent" for n in found),
            what="both notifications sent",
        )
        skipped = await eventually(
            lambda: get_json(http, f"/notifications?order_id={no_email.data['order_id']}"),
            lambda found: len(found) == 1 and found[0]["status"] != "pending",
        )

    assert skipped[0]["status"] == "skipped", "no address: nothing to send, and said so"
    assert len(sink.messages) == 2, [m["Subject"] for m in sink.messages]
    by_id = {f"<{n['id']}@example.com>": n for n in sent}
    assert {m["Message-ID"] for m in sink.messages} == set(by_id)
    for message in sink.messages:
        assert message["To"] == "ada@example.com"
        assert message["From"] == "shop@example.com"
        assert str(order_id) in message["Subject"]
    kinds = {("received" in m["Subject"], "confirmed" in m["Subject"]) for m in sink.messages}
    assert kinds == {(True, False), (False, True)}


@pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)
async def test_mail_is_retried_with_back_off_while_the_server_is_down(
    broker_url: str,
    database_url: DatabaseUrl,
    smtp_port: int,
    mail_server: tuple[Controller, MailSink],
) -> None:
    controller, sink = mail_server  # not started: the mail server is down
    settings = settings_for(broker_url, await database_url("notification"), smtp_port)
    placed = factories.order_placed([("SKU-1", 1)], email="ada@example.com")
    async with BrokerProbe(broker_url) as probe, running(create_app(settings)) as (rt, http):
        await probe.publish(ORDER_EVENTS, factories.body(placed), **factories.properties(placed))

        async def attempts() -> int:
            query = select(notifications.c.attempts)
            return int(await rt.db.read(lambda conn: conn.scalar(query)) or 0)

        await eventually(attempts, lambda n: n >= 2, what="failed attempts while down")
        found = await get_json(http, "/notifications")
        assert [n["status"] for n in found] == ["pending"], "still to be sent, not given up"
        controller.start()
        await eventually(
            lambda: get_json(http, "/notifications"),
            lambda found: found[0]["status"] == "sent",
            timeout=30,
        )

    assert len(sink.messages) == 1


class SlowToAnswer(MailSink):
    """Takes each message, then holds its answer until `answer` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.answer = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        reply = await super().handle_DATA(server, session, envelope)
        await asyncio.to_thread(self.answer.wait, 30)
        return reply


@pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)
async def test_a_mail_under_way_when_the_service_stops_is_finished_and_marked_sent(
    broker_url: str, database_url: DatabaseUrl, smtp_port: int
) -> None:
    sink = SlowToAnswer()
    controller = Controller(sink, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    database = await database_url("notification")
    settings = settings_for(broker_url, database, smtp_port)
    placed = factories.order_placed([("SKU-1", 1)], email="ada@example.com")
    app = create_app(settings)
    try:
        async with BrokerProbe(broker_url) as probe, running(app) as (runtime, _):
            await probe.publish(
                ORDER_EVENTS, factories.body(placed), **factories.properties(placed)
            )
            await eventually(lambda: len(sink.messages), lambda n: n == 1, what="mail taken")
            # The server has the mail and has not answered: stop the service now.
            stopping = asyncio.create_task(runtime.stop())
            (dispatcher,) = [t for t in asyncio.all_tasks() if t.get_name() == "Dispatcher.run"]
            await eventually(dispatcher.cancelling, bool, interval=0.01, what="dispatch cancelled")
            sink.answer.set()
            await stopping
    finally:
        sink.answer.set()
        controller.stop()

    engine = create_engine(database)
    with engine.connect() as conn:
        rows = conn.execute(select(notifications.c.status, notifications.c.attempts)).all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [("sent", 1)], "marked sent: not to be mailed again"
    assert len(sink.messages) == 1
