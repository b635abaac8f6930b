"""What the consumer needs of a delivered message, and how to copy one elsewhere.

aio-pika's incoming message is a `Delivery`; so is the unit tests' fake, which is how the
delivery machinery is tested without a broker."""

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

import aio_pika


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


class Publisher(Protocol):
    """Publishes with a broker confirm, raising when it is not confirmed
    (`shared.messaging.broker.Broker`)."""

    @property
    def is_ready(self) -> bool: ...

    async def publish(self, exchange: str, routing_key: str, message: aio_pika.Message) -> None: ...


def copy_of(message: Delivery, headers: Mapping[str, Any]) -> aio_pika.Message:
    """A persistent copy of a delivered message (body and properties) with `headers`, to
    move it elsewhere: a retry queue, a dead-letter queue, back from one."""
    return aio_pika.Message(
        message.body,
        headers=dict(headers),
        content_type=message.content_type,
        content_encoding=message.content_encoding,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        priority=message.priority,
        correlation_id=message.correlation_id,
        reply_to=message.reply_to,
        message_id=message.message_id,
        timestamp=message.timestamp,
        type=message.type,
        app_id=message.app_id,
    )
