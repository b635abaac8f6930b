"""From a batch of deliveries to committed effects and settled messages.

The whole batch is applied in one unit of work together with its inbox rows, and
acknowledged only after that transaction commits. Then:

- an event id already in the inbox is acknowledged without running its handler;
- an event type this queue has no handler for is acknowledged and logged (skipped);
- a message that can never be processed (not JSON, not a CloudEvent, data failing its
  schema, an unknown data version, a handler's `PermanentError`) is copied to the queue's
  dead-letter exchange with the reason in its headers, then acknowledged;
- any other failure is retried: the message is copied to the retry queue for its attempt,
  where it waits out its back-off and is dead-lettered back to the work queue; after the
  last attempt it goes to the dead-letter queue instead (`failure_policy`).

A failing batch is re-run one message at a time so one bad message never holds back the
others. Every copy is confirmed by the broker before the original is acknowledged; a copy
that is not confirmed leaves the original unacknowledged (returned to the queue), so a
crash or a broker hiccup in between duplicates a message (which the inbox absorbs) and
never loses one.
"""

import itertools
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from prometheus_client import Counter

from shared.contract.envelope import CloudEvent, InvalidMessage, decode
from shared.contract.events import EventSchemas
from shared.contract.signing import Verifier, authorize
from shared.contract.upcasting import upcast
from shared.core.handlers import Event, Handler, Subscription
from shared.core.uow import Transactions, UnitOfWork
from shared.messaging import failure_policy
from shared.messaging.delivery import Delivery, Publisher, copy_of
from shared.telemetry.metrics import Metrics
from shared.telemetry.tracing import (
    INVALID_SPAN,
    Link,
    Span,
    SpanKind,
    Status,
    StatusCode,
    Tracing,
    causes,
    context_of,
    headers_of,
    messaging_attributes,
    within,
)

log = logging.getLogger(__name__)

UowT = TypeVar("UowT", bound=UnitOfWork)


@dataclass
class _Item:
    delivery: Delivery
    event: Event[Any] | None = None
    handler: Handler[Any, Any] | None = None
    invalid: InvalidMessage | None = None
    settled: bool = False
    ack: bool = True
    label: str = "unknown"  # the event type, when it is one of the contract's
    span: Span = INVALID_SPAN

    @property
    def log_context(self) -> dict[str, str]:
        """What a log line about this delivery carries (JSON logs write it as fields): its
        ids, and its span's when it is traced."""
        context = self.span.get_span_context()
        traced = (
            {"trace_id": f"{context.trace_id:032x}", "span_id": f"{context.span_id:016x}"}
            if context.is_valid
            else {}
        )
        if self.event is None:
            return {"message_id": self.delivery.message_id or "", **traced}
        envelope = self.event.envelope
        return {"event_id": envelope.id, "correlation_id": envelope.correlation_id, **traced}


class BatchProcessor(Generic[UowT]):
    def __init__(
        self,
        subscription: Subscription[UowT],
        *,
        service: str,
        transactions: Transactions[UowT],
        schemas: EventSchemas,
        publisher: Publisher,
        verifier: Verifier,
        retry_delays: Sequence[float] = (1.0, 5.0, 30.0),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        metrics: Metrics | None = None,
        tracing: Tracing | None = None,
    ) -> None:
        self.queue = subscription.queue
        self._handlers = dict(subscription.handlers)
        self._service = service
        self._transactions = transactions
        self._schemas = schemas
        self._publisher = publisher
        self._verifier = verifier
        self._retry_delays = tuple(retry_delays)
        self._clock = clock
        self.metrics = metrics or Metrics()
        self._tracer = (tracing or Tracing(service)).tracer
        self.processed = 0  # deliveries applied or recognised as duplicates

    async def process(self, deliveries: Sequence[Delivery]) -> None:
        items = [self._parse(d) for d in deliveries]
        for item in items:
            self._count(self.metrics.consumed, item)
            if item.invalid is not None:
                await self._fail(item, item.invalid)
            elif item.handler is None:
                log.warning(
                    "%s: no handler for event type %r; acknowledged and skipped",
                    self.queue.name,
                    item.delivery.type,
                )
                item.settled = True
        pending = [item for item in items if not item.settled]
        if pending:
            try:
                await self._apply(pending)
            except Exception as exc:
                if len(pending) == 1:
                    await self._fail(pending[0], exc)
                else:
                    log.info(
                        "%s: batch of %d failed (%r); retrying one by one",
                        self.queue.name,
                        len(pending),
                        exc,
                    )
                    for item in pending:
                        try:
                            await self._apply([item])
                        except Exception as single_exc:
                            await self._fail(item, single_exc)
        await self._acknowledge(items)
        for item in items:
            # The settlement, on each message's own span (a span of its own per batch
            # would cost more than it tells).
            item.span.add_event("settle", {"messaging.operation.type": "settle", "ack": item.ack})
            item.span.end()

    def _parse(self, delivery: Delivery) -> _Item:
        item = _Item(delivery)
        # Each message its own span, a child of the context it carries (also in a batch,
        # also on a retry or a replay, which keep the headers).
        item.span = self._tracer.start_span(
            f"process {self.queue.name}",
            context=context_of(delivery.headers or {}),
            kind=SpanKind.CONSUMER,
            attributes=messaging_attributes(
                "process", self.queue.name, message_id=delivery.message_id
            ),
        )
        try:
            # Before anything else: what cannot be proven to come from a trusted producer is
            # not even parsed further.
            producer = self._verifier.verify(delivery.headers or {}, delivery.body)
            envelope = decode(delivery.body)
            # Only the contract's types become label values: a hostile producer must not be
            # able to create a time series per made-up type.
            if self._schemas.knows(envelope.type):
                item.label = envelope.type
            item.handler = self._handlers.get(envelope.type)
            if item.handler is not None:
                authorize(producer, envelope)
                # Whatever version came, the handler sees the one it is written for.
                data = upcast(self._schemas.parse(envelope), item.handler.data)
                item.event = Event(envelope, data)
        except InvalidMessage as exc:
            item.invalid = exc
        return item

    async def _apply(self, items: Sequence[_Item]) -> None:
        events = [item.event for item in items if item.event is not None]
        handlers = {item.event.id: item.handler for item in items if item.event is not None}
        handler_seconds = self.metrics.handler_seconds

        def apply(uow: UowT) -> tuple[list[Event[Any]], list[Event[Any]]]:
            new_ids = uow.inbox.record_new(self.queue.name, [(e.id, e.type) for e in events])
            fresh, duplicates = [], []
            for event in events:
                if event.id in new_ids:
                    new_ids.discard(event.id)
                    fresh.append(event)
                else:
                    duplicates.append(event)
            for handler, run in itertools.groupby(fresh, key=lambda e: handlers[e.id]):
                assert handler is not None
                started = time.perf_counter()
                handler.apply(list(run), uow)
                handler_seconds.labels(self.queue.name, handler.event_type).observe(
                    time.perf_counter() - started
                )
            return fresh, duplicates

        # A batch of several messages is a transaction span of its own, linked to each
        # message's span (OpenTelemetry's batch processing); a lone message's transaction
        # runs in its own process span, which a span more would only repeat. What each
        # message causes continues that message's own span (`causes`).
        with (
            self._tracer.start_as_current_span(
                f"transaction {self.queue.name}",
                links=[Link(item.span.get_span_context()) for item in items],
                attributes={"messaging.batch.message_count": len(items)},
            )
            if len(items) > 1
            else within(items[0].span),
            causes(
                {
                    item.event.id: headers_of(item.span)
                    for item in items
                    if item.event is not None and item.span.is_recording()
                }
            ),
        ):
            fresh, duplicates = await self._transactions(apply)
        committed_at = self._clock()
        for event in fresh:
            self._critical_time(event.envelope, committed_at)
        for event in duplicates:
            self.metrics.deduplicated.labels(self.queue.name, event.type).inc()
            log.info(
                "%s: duplicate %s %s acknowledged without effect",
                self.queue.name,
                event.type,
                event.id,
                extra={"event_id": event.id, "correlation_id": event.envelope.correlation_id},
            )
        for item in items:
            item.settled = True
        self.processed += len(items)

    def _critical_time(self, envelope: CloudEvent, committed_at: datetime) -> None:
        if envelope.time is None:
            return
        sent_at = envelope.time if envelope.time.tzinfo else envelope.time.replace(tzinfo=UTC)
        self.metrics.critical_time.labels(self.queue.name, envelope.type).observe(
            max(0.0, (committed_at - sent_at).total_seconds())
        )

    def _count(self, counter: Counter, item: _Item, *labels: str) -> None:
        counter.labels(self.queue.name, item.label, *labels).inc()

    async def _fail(self, item: _Item, error: Exception) -> None:
        message = item.delivery
        decision = failure_policy.decide(
            message.headers or {},
            error,
            schedule=self._retry_delays,
            service=self._service,
            queue=self.queue.name,
            now=self._clock(),
        )
        if isinstance(decision, failure_policy.Retry):
            log.warning(
                "%s: attempt %d/%d of %s failed (%s: %s); retrying in %gs",
                self.queue.name,
                decision.attempt,
                len(self._retry_delays) + 1,
                message.message_id,
                type(error).__name__,
                error,
                decision.delay_seconds,
                extra=item.log_context,
            )
            item.span.add_event(
                "retry", {"attempt": decision.attempt, "delay_seconds": decision.delay_seconds}
            )
            item.span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
            exchange, routing_key = "", self.queue.retry_queue(decision.delay_seconds)
            labels: tuple[str, ...] = ()
            counter = self.metrics.retried
        else:
            log.error(
                "%s: dead-lettering %s after %d attempt(s): %s",
                self.queue.name,
                message.message_id,
                decision.attempts,
                decision.reason,
                extra=item.log_context,
            )
            item.span.add_event("dead-letter", {"reason": decision.reason})
            item.span.set_status(Status(StatusCode.ERROR, f"dead-lettered: {decision.reason}"))
            exchange, routing_key = self.queue.dead_letter_exchange, self.queue.name
            labels = (failure_policy.reason_class(error),)
            counter = self.metrics.dead_lettered
        try:
            await self._publisher.publish(exchange, routing_key, copy_of(message, decision.headers))
        except Exception as exc:
            # Not confirmed: give the message back rather than risk losing it.
            log.error(
                "%s: could not move %s to %s (%r); returning it to the queue",
                self.queue.name,
                message.message_id,
                exchange or routing_key,
                exc,
                extra=item.log_context,
            )
            item.ack = False
        else:
            self._count(counter, item, *labels)
        item.settled = True

    async def _acknowledge(self, items: Sequence[_Item]) -> None:
        await _acknowledge(items)
        for item in items:
            self._count(self.metrics.acknowledged if item.ack else self.metrics.returned, item)


async def _acknowledge(items: Sequence[_Item]) -> None:
    if all(item.ack for item in items):
        await settle(items[-1].delivery, ack=True, multiple=True)
        return
    for item in items:
        await settle(item.delivery, ack=item.ack)


async def settle(message: Delivery, *, ack: bool, multiple: bool = False) -> None:
    try:
        if ack:
            await message.ack(multiple=multiple)
        else:
            await message.nack(requeue=True)
    except Exception as exc:  # channel gone: the broker redelivers, the inbox dedupes
        log.debug("could not settle delivery %s: %r", message.message_id, exc)
