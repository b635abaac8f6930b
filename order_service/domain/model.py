"""Orders and the rules of their life cycle: PENDING, then CONFIRMED or REJECTED, once."""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from uuid import UUID, uuid4


class OrderStatus(StrEnum):
    PENDING = "PENDING"
    CONFIRMED = "CONFIRMED"
    REJECTED = "REJECTED"


class InvalidTransition(Exception):
    pass


@dataclass(frozen=True, slots=True)
class OrderLine:
    sku: str
    quantity: int
    unit_price: Decimal | None = None  # None: not on the price list


@dataclass
class Order:
    customer_id: str
    email: str | None
    items: list[OrderLine]
    created_at: datetime
    id: UUID = field(default_factory=uuid4)
    status: OrderStatus = OrderStatus.PENDING
    rejection_reason: str | None = None
    updated_at: datetime | None = None
    idempotency_key: str | None = None
    request_hash: str | None = None
    currency: str | None = None

    @property
    def total(self) -> Decimal | None:
        """What the order costs, when the price of every line is known."""
        if self.currency is None or any(line.unit_price is None for line in self.items):
            return None
        return sum(
            (line.unit_price * line.quantity for line in self.items if line.unit_price is not None),
            Decimal(0),
        )

    def __post_init__(self) -> None:
        if self.updated_at is None:
            self.updated_at = self.created_at

    def confirm(self, at: datetime) -> bool:
        """Move to CONFIRMED. Returns False if it already was (a repeated outcome)."""
        return self._settle(OrderStatus.CONFIRMED, at)

    def reject(self, reason: str, at: datetime) -> bool:
        """Move to REJECTED. Returns False if it already was (a repeated outcome)."""
        changed = self._settle(OrderStatus.REJECTED, at)
        if changed:
            self.rejection_reason = reason
        return changed

    def _settle(self, outcome: OrderStatus, at: datetime) -> bool:
        if self.status == outcome:
            return False
        if self.status != OrderStatus.PENDING:
            raise InvalidTransition(f"order {self.id} is {self.status}, cannot become {outcome}")
        self.status = outcome
        self.updated_at = at
        return True
