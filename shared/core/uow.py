"""The unit of work a handler works in: one transaction, the service's repositories bound
to it, events to publish if (and only if) it commits, and callbacks for after the commit.

A service's unit of work subclasses `UnitOfWork` with its repositories as attributes
(`uow.stock`, `uow.orders`, ...); the SQL one is built on a database connection by
`shared.persistence`, a fake one on dictionaries in the unit tests. A handler cannot tell
them apart, which is the point: it knows no database and no broker.

Staged events are not the handler's business once staged: the transaction runner writes
them to the outbox in the same transaction and hands them to the relay after the commit.
"""

from collections.abc import Awaitable, Callable, Iterable
from typing import Protocol, TypeVar

from shared.contract.envelope import CloudEvent
from shared.contract.outbound import OutboundMessage
from shared.telemetry.tracing import trace_headers

T = TypeVar("T")
UowT_co = TypeVar("UowT_co", bound="UnitOfWork", covariant=True)


class Inbox(Protocol):
    """Which events a consumer has already applied, recorded in the unit of work's own
    transaction so "applied" and "recorded as applied" can never disagree."""

    def record_new(self, consumer: str, events: Iterable[tuple[str, str]]) -> set[str]:
        """Record (event id, type) pairs for `consumer`; return the ids not seen before."""
        ...


class UnitOfWork:
    inbox: Inbox

    def __init__(self) -> None:
        self.staged: list[OutboundMessage] = []
        self.committed_callbacks: list[Callable[[], None]] = []

    def publish(self, event: CloudEvent, exchange: str, routing_key: str = "") -> None:
        """Publish `event` if, and only if, this unit of work commits. It carries the trace
        context of its cause (the event being applied), or else the current one."""
        cause = event.causation_id if event.causation_id != event.id else None
        message = OutboundMessage.of(event, exchange, routing_key)
        self.staged.append(message.with_headers(trace_headers(cause)))

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Run `callback` (on the event loop) once this unit of work has committed."""
        self.committed_callbacks.append(callback)


class Transactions(Protocol[UowT_co]):
    """Runs `work` in a fresh unit of work, committed when it returns, rolled back if it
    raises, and returns its result once committed."""

    def __call__(self, work: Callable[[UowT_co], T]) -> Awaitable[T]: ...
