"""What the consumer needs of a delivered message, how to copy one elsewhere, and how a
message is published with a confirm.

aio-pika's incoming message is a `Delivery`; so is `AmqpDelivery`, a delivery as aiormq
hands it over (what the work queues' consumer takes: `shared.messaging.consumer`), and
the unit tests' fake, which is how the delivery machinery is tested without a broker.

Outgoing messages are built as they go on the wire (`Outgoing`: the body and pamqp's
properties) and published straight on aiormq's channel (`publish_confirmed`), not through
aio-pika's `Message` and `Exchange`: measured here, building an `aio_pika.Message` and
reading its properties costs 9.6 us against 0.8 us for the properties alone, and a
publish with its confirm, back to back, 228 against 190 us of CPU (median of five runs
of 5,000)."""

from collections.abc import Mapping
from datetime import datetime
from typing import Any, NamedTuple, Protocol, cast

import aiormq
from aiormq.abc import AbstractChannel, DeliveredMessage
from pamqp.commands import Basic

PERSISTENT = 2  # AMQP's delivery mode of a message written to disk


class Delivery(Protocol):
    @property
    def body(self) -> bytes: ...
    @property
    def headers(self) -> Mapping[str, Any]: ...
    @property
    def content_type(self) -> str | None: ...
    @property
    def content_encoding(self) -> str | None: ...
    @property
    def priority(self) -> int | None: ...
    @property
    def correlation_id(self) -> str | None: ...
    @property
    def reply_to(self) -> str | None: ...
    @property
    def message_id(self) -> str | None: ...
    @property
    def timestamp(self) -> datetime | None: ...
    @property
    def type(self) -> str | None: ...
    @property
    def app_id(self) -> str | None: ...

    async def ack(self, multiple: bool = False) -> None: ...

    async def nack(self, multiple: bool = False, requeue: bool = True) -> None: ...


class AmqpDelivery:
    """A delivery as aiormq hands it over, read and settled on its channel: what aio-pika's
    incoming message offers, without building one (its constructor copies every property
    through checked attribute writes) or running its callback as a task of its own.
    Measured here at 100 deliveries/s, a consumer that reads the properties and acks:
    0.43 instead of 0.52 ms of CPU per delivery."""

    __slots__ = ("_message", "_properties", "_tag")

    def __init__(self, message: DeliveredMessage) -> None:
        if message.delivery_tag is None:  # only a basic.get's "empty" answer has none
            raise ValueError("a delivery without a delivery tag")
        self._message = message
        self._properties = message.header.properties
        self._tag: int = message.delivery_tag

    @property
    def channel(self) -> AbstractChannel:
        return self._message.channel

    @property
    def body(self) -> bytes:
        return self._message.body

    @property
    def headers(self) -> Mapping[str, Any]:
        return self._properties.headers or {}

    @property
    def content_type(self) -> str | None:
        return self._properties.content_type

    @property
    def content_encoding(self) -> str | None:
        return self._properties.content_encoding

    @property
    def priority(self) -> int | None:
        return self._properties.priority

    @property
    def correlation_id(self) -> str | None:
        return self._properties.correlation_id

    @property
    def reply_to(self) -> str | None:
        return self._properties.reply_to

    @property
    def message_id(self) -> str | None:
        return self._properties.message_id

    @property
    def timestamp(self) -> datetime | None:
        return self._properties.timestamp

    @property
    def type(self) -> str | None:
        return self._properties.message_type

    @property
    def app_id(self) -> str | None:
        return self._properties.app_id

    async def ack(self, multiple: bool = False) -> None:
        await self._message.channel.basic_ack(self._tag, multiple=multiple)

    async def nack(self, multiple: bool = False, requeue: bool = True) -> None:
        await self._message.channel.basic_nack(self._tag, multiple=multiple, requeue=requeue)


class NotConfirmed(Exception):
    """The broker's answer to a publish was not a confirm."""


class Outgoing(NamedTuple):
    """A message to publish: its body and its AMQP properties."""

    body: bytes
    properties: Basic.Properties


class Publisher(Protocol):
    """Publishes with a broker confirm, raising when it is not confirmed
    (`shared.messaging.broker.Broker`)."""

    @property
    def is_ready(self) -> bool: ...

    async def publish(self, exchange: str, routing_key: str, message: Outgoing) -> None: ...


async def publish_confirmed(
    channel: AbstractChannel, exchange: str, routing_key: str, message: Outgoing
) -> None:
    """Publish on a publisher-confirms channel opened with `on_return_raises` and return once
    the broker has confirmed the message. Raises if the broker nacks it (DeliveryError),
    cannot route it to any queue (PublishError: it is `mandatory`), or the channel closes
    first. The frames are queued for writing without waiting until they are written: the
    confirm comes after them anyway, and a write that fails closes the channel."""
    # aio-pika's channels are aiormq's `Channel`, whose publish takes `wait` (the abstract
    # class's signature lacks it).
    confirmation = await cast(aiormq.Channel, channel).basic_publish(
        message.body,
        exchange=exchange,
        routing_key=routing_key,
        properties=message.properties,
        mandatory=True,
        wait=False,
    )
    if not isinstance(confirmation, Basic.Ack):
        # A channel without confirms (None), or returning to callbacks (the message back).
        raise NotConfirmed(f"publish not confirmed by the broker: {confirmation!r}")


def copy_of(message: Delivery, headers: Mapping[str, Any]) -> Outgoing:
    """A persistent copy of a delivered message (body and properties) with `headers`, to
    move it elsewhere: a retry queue, a dead-letter queue, back from one."""
    return Outgoing(
        message.body,
        Basic.Properties(
            headers=dict(headers),
            content_type=message.content_type,
            content_encoding=message.content_encoding,
            delivery_mode=PERSISTENT,
            priority=message.priority,
            correlation_id=message.correlation_id,
            reply_to=message.reply_to,
            message_id=message.message_id,
            timestamp=message.timestamp,
            message_type=message.type,
            app_id=message.app_id,
        ),
    )
