"""What indexing works with: the index and the stream's offset, as protocols. The SQL
ones are in `adapters/`, the unit tests' in-memory ones in `tests/unit/fakes.py`."""

from collections.abc import Iterable
from typing import Protocol

from audit_service.domain.model import IndexedEvent
from shared.core.uow import UnitOfWork


class EventIndex(Protocol):
    def add(self, rows: Iterable[IndexedEvent]) -> None:
        """Add rows; a row for an offset already indexed is left as it is."""
        ...

    def genuine_ids_among(self, event_ids: Iterable[str]) -> set[str]:
        """Which of these event ids have a genuine row already."""
        ...


class StreamOffsets(Protocol):
    def advance(self, stream: str, last_offset: int) -> None:
        """Record that everything up to `last_offset` of `stream` is indexed."""
        ...

    def last(self, stream: str) -> int | None:
        """The last offset of `stream` indexed (None: nothing yet)."""
        ...


class AuditUnitOfWork(UnitOfWork):
    events: EventIndex
    offsets: StreamOffsets
