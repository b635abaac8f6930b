"""The handler API: a handler is a plain function of a run of typed events and a unit of
work. It knows no transport: it never sees an AMQP message, a channel or a connection.

A handler takes a *run* of consecutive events of one type (in delivery order) so it can
apply them with a few set-based statements instead of a few per event; it must give the
same result as applying them one after another, because the runtime re-runs a failing
batch one event at a time to isolate the culprit. `one_at_a_time` adapts a handler
written for a single event.
"""

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from shared.contract.envelope import CloudEvent
from shared.contract.events import EventData
from shared.contract.topology import QueueSpec

DataT = TypeVar("DataT", bound=EventData)
UowT = TypeVar("UowT")
UowT_contra = TypeVar("UowT_contra", contravariant=True)


class PermanentError(Exception):
    """Raised by a handler for a message that will never succeed however often it is
    retried (it refers to something that cannot exist, breaks an invariant...). The
    message is dead-lettered at once."""


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


@dataclass(frozen=True)
class Handler(Generic[UowT_contra, DataT]):
    """`apply` registered for the events whose data is a `data` (one type and version)."""

    data: type[DataT]
    apply: Callable[[Sequence[Event[DataT]], UowT_contra], None]

    @property
    def event_type(self) -> str:
        return self.data.event_type


def handles(
    data: type[DataT], apply: Callable[[Sequence[Event[DataT]], UowT], None]
) -> Handler[UowT, DataT]:
    return Handler(data, apply)


def one_at_a_time(
    apply: Callable[[Event[DataT], UowT], None],
) -> Callable[[Sequence[Event[DataT]], UowT], None]:
    """A run handler from a handler of one event."""

    def each(events: Sequence[Event[DataT]], uow: UowT) -> None:
        for event in events:
            apply(event, uow)

    return each


@dataclass(frozen=True)
class Subscription(Generic[UowT_contra]):
    """A work queue and the handler of each event type this service takes from it."""

    queue: QueueSpec
    handlers: Mapping[str, Handler[UowT_contra, Any]]

    @classmethod
    def of(cls, queue: QueueSpec, handlers: Iterable[Handler[UowT, Any]]) -> "Subscription[UowT]":
        by_type: dict[str, Handler[UowT, Any]] = {}
        for handler in handlers:
            if handler.event_type in by_type:
                raise ValueError(f"two handlers for {handler.event_type} on {queue.name}")
            by_type[handler.event_type] = handler
        return Subscription(queue, by_type)
