"""AMQP to the compose stack's broker from the host, as a client of the stack reaches it:
over TLS on the published port, checking the broker's certificate against the stack's own
certificate authority, as one of the stack's broker users. And events forged the way a
hostile client with broker access would forge them."""

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel
from pydantic import BaseModel

from shared.contract.envelope import CloudEvent, new_event
from shared.contract.outbound import OutboundMessage
from shared.contract.signing import EventSigner
from shared.messaging.broker import amqp_message
from shared.messaging.delivery import Outgoing, publish_confirmed
from tests.compose.stack import ComposeStack

# The broker's users (docker/rabbitmq/definitions.template.json) and the .env variable
# holding each one's password.
BROKER_USERS = {
    "operator": "RABBITMQ_OPERATOR_PASSWORD",
    "order": "ORDER_AMQP_PASSWORD",
    "inventory": "INVENTORY_AMQP_PASSWORD",
    "notification": "NOTIFICATION_AMQP_PASSWORD",
    "audit": "AUDIT_AMQP_PASSWORD",
}
CA_IN_THE_BROKER = "/etc/rabbitmq/setup/ca.pem"
CONNECT_TIMEOUT = 10.0

Operation = Callable[[AbstractChannel], Awaitable[Any]]


class BrokerClient:
    def __init__(self, stack: ComposeStack, workdir: Path) -> None:
        self.stack = stack
        self.ca_file = workdir / "broker-ca.pem"
        self.ca_file.write_text(stack.compose("exec", "-T", "rabbitmq", "cat", CA_IN_THE_BROKER))

    def url(self, user: str, *, tls: bool = True, trust_the_stack_ca: bool = True) -> str:
        password = self.stack.settings[BROKER_USERS[user]]
        address = f"{user}:{password}@127.0.0.1:{self.stack.settings['RABBITMQ_AMQPS_PORT']}/"
        if not tls:
            return f"amqp://{address}"
        return f"amqps://{address}" + (f"?cafile={self.ca_file}" if trust_the_stack_ca else "")

    def refusal(self, user: str, operation: Operation) -> str | None:
        """Run `operation` on a channel of a new connection as `user`: None if the broker
        allows it, else its answer (`ACCESS_REFUSED - ...`)."""

        async def attempt() -> str | None:
            connection = await aio_pika.connect(self.url(user), timeout=CONNECT_TIMEOUT)
            try:
                channel = await connection.channel(publisher_confirms=True)
                await operation(channel)
                return None
            except aio_pika.exceptions.AMQPError as exc:
                return str(exc)
            finally:
                await connection.close()

        return asyncio.run(attempt())

    def connection_failure(self, url: str) -> str | None:
        """None if a connection to `url` opens, else why it did not (the causes too)."""

        async def attempt() -> str | None:
            try:
                connection = await aio_pika.connect(url, timeout=CONNECT_TIMEOUT)
            except Exception as exc:
                return describe(exc)
            await connection.close()
            return None

        return asyncio.run(attempt())

    def publish(self, user: str, exchange: str, messages: list[Outgoing]) -> None:
        """Publish as `user`, each message confirmed by the broker."""

        async def publish_all(channel: AbstractChannel) -> None:
            for message in messages:
                await publish_confirmed(await channel.get_underlay_channel(), exchange, "", message)

        refused = self.refusal(user, publish_all)
        assert refused is None, f"{user} could not publish to {exchange}: {refused}"


def forged(
    event_type: str,
    source: str,
    data: BaseModel,
    *,
    exchange: str,
    signer: EventSigner | None,
    user_id: str,
) -> tuple[CloudEvent, Outgoing]:
    """A well-formed event, as its genuine producer would send it, but signed by `signer`
    (None: unsigned) and published by the broker user `user_id`."""
    event = new_event(type=event_type, source=source, data=data)
    outbound = OutboundMessage.of(event, exchange)
    if signer is not None:
        outbound = outbound.with_headers(signer.sign(outbound.body))
    return event, amqp_message(outbound, app_id="forger", user_id=user_id)


def describe(error: BaseException) -> str:
    causes: list[str] = []
    current: BaseException | None = error
    while current is not None and len(causes) < 5:
        causes.append(f"{type(current).__name__}: {current}")
        current = current.__cause__ or current.__context__
    return " <- ".join(causes)
