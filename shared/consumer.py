"""The consumer runtime: from an AMQP delivery to a committed, deduplicated effect.

For each work queue a `Consumer` takes deliveries in batches (whatever has arrived, up to
`batch_size`, so a lone message is never held back waiting for company), and applies the
whole batch in one transaction together with its inbox rows; it acknowledges only after
that transaction commits. Then:

- an event id already in the inbox is acknowledged without running its handler;
- a message that can never be processed (not JSON, not a CloudEvent, data failing its
  schema, an unknown data version, a handler's `PermanentError`) is copied to the queue's
  dead-letter exchange with the reason in its headers, then acknowledged;
- any other failure is retried: the message is copied to the retry queue for its attempt,
  where it waits out its back-off and is dead-lettered back to the work queue; after the
  last attempt it goes to the dead-letter queue instead.

A failing batch is re-run one message at a time so one bad message never holds back the
others. Every copy is confirmed by the broker before the original is acknowledged, so a
crash in between duplicates a message (which the inbox absorbs) and never loses one.
"""

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from aio_pika.abc import (
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustChannel,
    AbstractRobustConnection,
)
from aiormq.exceptions import ChannelInvalidStateError
from sqlalchemy import Table

from shared import inbox
from shared.broker import Broker, bounded, copy_of
from shared.contracts import EventData, EventSchemas
from shared.db import Database
from shared.envelope import CloudEvent, InvalidMessage, decode
from shared.outbox import Outbox
from shared.topology import QueueSpec
from shared.uow import UnitOfWork, unit_of_work

log = logging.getLogger(__name__)

DataT = TypeVar("DataT", bound=EventData)

RETRY_ATTEMPT = "x-retry-attempt"
FIRST_FAILURE_AT = "x-first-failure-at"
# Headers set by the broker on delivery; a copy we publish must not carry them.
_BROKER_HEADERS = ("x-delivery-count",)


class PermanentError(Exception):
    """Raised by a handler for a message that will never succeed however often it is
    retried (it refers to something that cannot exist, breaks an invariant...)."""


@dataclass(frozen=True, slots=True)
class Event(Generic[DataT]):
    """A validated event: its envelope and its typed data."""

    envelope: CloudEvent
    data: DataT

    @property
    def id(self) -> str:
        return self.envelope.id

    @property
    def type(self) -> str:
        return self.envelope.type


EventHandler = Callable[[UnitOfWork, Event[Any]], Awaitable[None]]


@dataclass(frozen=True)
class BatchHandler:
    """A handler that applies a run of consecutive events at once, in delivery order, in
    the batch's transaction: a few set-based statements instead of a few per event. It
    must give the same result as applying the events one after another (the runtime
    falls back to one-event runs to isolate a failure)."""

    apply: Callable[[UnitOfWork, Sequence[Event[Any]]], Awaitable[None]]


Handler = EventHandler | BatchHandler


@dataclass(frozen=True)
class Subscription:
    """A work queue and the handler of each event type this service takes from it."""

    queue: QueueSpec
    handlers: Mapping[str, Handler]


@dataclass
class _Delivery:
    message: AbstractIncomingMessage
    event: Event[Any] | None = None
    handler: Handler | None = None
    invalid: InvalidMessage | None = None
    settled: bool = False
    ack: bool = True


class Consumer:
    def __init__(
        self,
        subscription: Subscription,
        *,
        service: str,
        db: Database,
        broker: Broker,
        inbox_table: Table,
        schemas: EventSchemas,
        outbox: Outbox | None = None,
        prefetch_count: int = 256,
        batch_size: int = 64,
        retry_delays: Sequence[float] = (1.0, 5.0, 30.0),
    ) -> None:
        self.spec = subscription.queue
        self.name = subscription.queue.name
        self._handlers = dict(subscription.handlers)
        self._service = service
        self._db = db
        self._broker = broker
        self._inbox = inbox_table
        self._schemas = schemas
        self._outbox = outbox
        self._prefetch = prefetch_count
        self._batch_size = batch_size
        self._retry_delays = tuple(retry_delays)
        self._buffer: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
        self._channel: AbstractRobustChannel | None = None
        self._queue: AbstractQueue | None = None
        self._consumer_tag: str | None = None
        self._worker: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self.processed = 0

    @property
    def max_attempts(self) -> int:
        return len(self._retry_delays) + 1

    @property
    def is_running(self) -> bool:
        return (
            self._consumer_tag is not None
            and self._channel is not None
            and not self._channel.is_closed
            and self._worker is not None
            and not self._worker.done()
        )

    async def start(self, connection: AbstractRobustConnection) -> None:
        channel = await connection.channel(publisher_confirms=False)
        await channel.set_qos(prefetch_count=self._prefetch)
        # Declared (not just looked up) so the robust channel re-declares it on reconnect.
        queue = await channel.declare_queue(
            self.spec.name, durable=True, arguments=self.spec.arguments()
        )
        self._channel, self._queue = channel, queue
        self._worker = asyncio.create_task(self._work(), name=f"consumer:{self.name}")
        self._worker.add_done_callback(self._worker_ended)
        self._consumer_tag = await queue.consume(self._buffer.put)
        log.info("consuming %s (prefetch %d)", self.name, self._prefetch)

    async def stop(self, grace_seconds: float = 10.0) -> None:
        """Stop taking deliveries, let the batch in progress finish, return the rest."""
        if self._queue is not None and self._consumer_tag is not None:
            await bounded(self._queue.cancel(self._consumer_tag), 5, f"cancel {self.name}")
        self._consumer_tag = None
        try:
            await asyncio.wait_for(self._idle.wait(), grace_seconds)
        except TimeoutError:
            log.warning(
                "%s: batch still running after %.0fs; abandoning it", self.name, grace_seconds
            )
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
        while not self._buffer.empty():
            await _settle(self._buffer.get_nowait(), ack=False)
        if self._channel is not None and not self._channel.is_closed:
            await bounded(self._channel.close(), 5, f"close the channel of {self.name}")

    def _worker_ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            # Readiness turns 503 (is_running): an orchestrator restarts the process.
            log.critical("%s: consumer worker died", self.name, exc_info=task.exception())

    async def _work(self) -> None:
        while True:
            first = await self._buffer.get()
            batch = [first]
            while len(batch) < self._batch_size and not self._buffer.empty():
                batch.append(self._buffer.get_nowait())
            # Deliveries from a channel that has since closed will come again; skip them.
            live = [m for m in batch if _channel_open(m)]
            if not live:
                continue
            self._idle.clear()
            try:
                await self.handle_batch(live)
            except Exception:
                log.exception("%s: unexpected failure handling a batch", self.name)
                for message in live:
                    await _settle(message, ack=False)
            finally:
                self._idle.set()

    async def handle_batch(self, messages: Sequence[AbstractIncomingMessage]) -> None:
        deliveries = [self._parse(m) for m in messages]
        for d in deliveries:
            if d.invalid is not None:
                await self._dead_letter(d, d.invalid, attempts=_attempts_so_far(d.message) + 1)
            elif d.handler is None:
                log.warning(
                    "%s: no handler for event type %r; acknowledged and skipped",
                    self.name,
                    d.message.type,
                )
                d.settled = True
        pending = [d for d in deliveries if not d.settled]
        if pending:
            try:
                await self._apply(pending)
            except Exception as exc:
                if len(pending) == 1:
                    await self._fail(pending[0], exc)
                else:
                    log.info(
                        "%s: batch of %d failed (%r); retrying one by one",
                        self.name,
                        len(pending),
                        exc,
                    )
                    for d in pending:
                        try:
                            await self._apply([d])
                        except Exception as single_exc:
                            await self._fail(d, single_exc)
        await self._acknowledge(deliveries)

    def _parse(self, message: AbstractIncomingMessage) -> _Delivery:
        delivery = _Delivery(message)
        try:
            envelope = decode(message.body)
            delivery.handler = self._handlers.get(envelope.type)
            if delivery.handler is not None:
                delivery.event = Event(envelope, self._schemas.parse(envelope))
        except InvalidMessage as exc:
            delivery.invalid = exc
        return delivery

    async def _apply(self, deliveries: Sequence[_Delivery]) -> None:
        async with unit_of_work(self._db, self._outbox) as uow:
            new_ids = await inbox.record_new(
                uow.conn,
                self._inbox,
                self.name,
                [(d.event.id, d.event.type) for d in deliveries if d.event is not None],
            )
            fresh: list[_Delivery] = []
            for d in deliveries:
                assert d.event is not None
                if d.event.id in new_ids:
                    new_ids.discard(d.event.id)
                    fresh.append(d)
                else:
                    log.info(
                        "%s: duplicate %s %s acknowledged without effect",
                        self.name,
                        d.event.type,
                        d.event.id,
                    )
            for handler, run in itertools.groupby(fresh, key=lambda d: d.handler):
                events = [d.event for d in run if d.event is not None]
                if isinstance(handler, BatchHandler):
                    await handler.apply(uow, events)
                else:
                    assert handler is not None
                    for event in events:
                        await handler(uow, event)
        for d in deliveries:
            d.settled = True
        self.processed += len(deliveries)

    async def _fail(self, d: _Delivery, exc: Exception) -> None:
        attempts = _attempts_so_far(d.message) + 1
        if isinstance(exc, PermanentError | InvalidMessage) or attempts >= self.max_attempts:
            await self._dead_letter(d, exc, attempts=attempts)
            return
        delay = self._retry_delays[attempts - 1]
        log.warning(
            "%s: attempt %d/%d of %s failed (%s: %s); retrying in %gs",
            self.name,
            attempts,
            self.max_attempts,
            d.message.message_id,
            type(exc).__name__,
            exc,
            delay,
        )
        headers = {RETRY_ATTEMPT: attempts, **_failure_headers(d.message, exc)}
        await self._republish(d, "", self.spec.retry_queue(delay), headers)

    async def _dead_letter(self, d: _Delivery, exc: Exception, *, attempts: int) -> None:
        reason = f"{type(exc).__name__}: {exc}"
        log.error(
            "%s: dead-lettering %s after %d attempt(s): %s",
            self.name,
            d.message.message_id,
            attempts,
            reason,
        )
        headers = {
            "x-dead-letter-reason": reason[:4000],
            "x-attempts": attempts,
            "x-service": self._service,
            "x-original-queue": self.name,
            **_failure_headers(d.message, exc),
        }
        await self._republish(d, self.spec.dead_letter_exchange, self.name, headers)

    async def _republish(
        self, d: _Delivery, exchange: str, routing_key: str, headers: dict[str, Any]
    ) -> None:
        try:
            kept = {k: v for k, v in (d.message.headers or {}).items() if k not in _BROKER_HEADERS}
            await self._broker.publish(
                exchange, routing_key, copy_of(d.message, {**kept, **headers})
            )
        except Exception as exc:
            # Not confirmed: give the message back rather than risk losing it.
            log.error(
                "%s: could not move %s to %s (%r); returning it to the queue",
                self.name,
                d.message.message_id,
                exchange or routing_key,
                exc,
            )
            d.ack = False
        d.settled = True

    async def _acknowledge(self, deliveries: Sequence[_Delivery]) -> None:
        if all(d.ack for d in deliveries):
            await _settle(deliveries[-1].message, ack=True, multiple=True)
            return
        for d in deliveries:
            await _settle(d.message, ack=d.ack)


def _channel_open(message: AbstractIncomingMessage) -> bool:
    try:
        return not message.channel.is_closed
    except ChannelInvalidStateError:  # aio-pika's way of saying "closed"
        return False


async def _settle(message: AbstractIncomingMessage, *, ack: bool, multiple: bool = False) -> None:
    try:
        if ack:
            await message.ack(multiple=multiple)
        else:
            await message.nack(requeue=True)
    except Exception as exc:  # channel gone: the broker redelivers, the inbox dedupes
        log.debug("could not settle delivery %s: %r", message.delivery_tag, exc)


def _attempts_so_far(message: AbstractIncomingMessage) -> int:
    value = (message.headers or {}).get(RETRY_ATTEMPT, 0)
    return value if isinstance(value, int) and value >= 0 else 0


def _failure_headers(message: AbstractIncomingMessage, exc: Exception) -> dict[str, Any]:
    now = datetime.now(UTC).isoformat()
    first = (message.headers or {}).get(FIRST_FAILURE_AT)
    return {
        "x-error-type": type(exc).__name__,
        "x-error-message": str(exc)[:4000],
        FIRST_FAILURE_AT: first if isinstance(first, str) else now,
        "x-last-failure-at": now,
    }
