"""What the order handlers work with: the orders repository, as a protocol. The SQL one is
in `adapters/`, the unit tests' in-memory one in `tests/unit/fakes.py`."""

from collections.abc import Iterable, Sequence
from typing import Protocol
from uuid import UUID

from order_service.domain.model import Order
from shared.core.uow import UnitOfWork


class OrderRepository(Protocol):
    def add_many(self, new: Sequence[Order]) -> None: ...

    def by_idempotency_keys(self, keys: Iterable[str]) -> dict[str, Order]: ...

    def lock_many(self, order_ids: Iterable[UUID]) -> dict[UUID, Order]:
        """The orders (those that exist), held until the transaction ends."""
        ...

    def save_outcomes(self, changed: Iterable[Order]) -> None: ...


class OrderUnitOfWork(UnitOfWork):
    orders: OrderRepository
