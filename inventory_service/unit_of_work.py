"""What the inventory handlers work with: its repositories, as protocols. The SQL ones are
in `adapters/`, the unit tests' in-memory ones in `tests/unit/fakes.py`."""

from collections.abc import Iterable, Sequence
from typing import Protocol
from uuid import UUID

from inventory_service.domain.model import Reservation, StockLevel
from shared.core.uow import UnitOfWork


class StockRepository(Protocol):
    def lock(self, skus: Iterable[str]) -> dict[str, StockLevel]:
        """The levels of `skus` (those that exist), held until the transaction ends."""
        ...

    def save(self, levels: Iterable[StockLevel]) -> None: ...

    def set_available(self, sku: str, available: int) -> StockLevel:
        """Create the sku or set its available level; what is reserved is unchanged."""
        ...


class ReservationRepository(Protocol):
    def existing(self, order_ids: Iterable[UUID]) -> set[UUID]:
        """Which of these orders have a reservation already."""
        ...

    def add(self, reservations: Sequence[Reservation]) -> None: ...


class InventoryUnitOfWork(UnitOfWork):
    stock: StockRepository
    reservations: ReservationRepository
