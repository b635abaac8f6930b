"""Notifications: one per (order, kind), addressed to whoever placed the order."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from uuid import UUID


class Kind(StrEnum):
    ORDER_RECEIVED = "order-received"
    ORDER_CONFIRMED = "order-confirmed"
    ORDER_REJECTED = "order-rejected"


class Status(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    SKIPPED = "skipped"  # the channel cannot carry it at all, e.g. no e-mail address
    FAILED = "failed"  # every attempt failed


@dataclass(frozen=True, slots=True)
class Notification:
    id: UUID
    order_id: UUID
    kind: Kind
    recipient: str | None
    subject: str
    body: str
    status: Status
    created_at: datetime
    attempts: int = 0
    email: str | None = None  # the order's e-mail address, if it gave one
    # The trace context of the event that caused it, for the span that sends it.
    trace: Mapping[str, str] = field(default_factory=dict)


def recipient_for(customer_id: str, email: str | None) -> str:
    return email if email else f"customer:{customer_id}"


def compose(
    kind: Kind, order_id: UUID, detail: str | None = None, amount: str | None = None
) -> tuple[str, str]:
    """Subject and text of the message for `kind` (with the order's total, when known)."""
    if kind is Kind.ORDER_RECEIVED:
        total = f" Total: {amount}." if amount else ""
        return (
            f"We received your order {order_id}",
            f"Thank you! Your order {order_id} is being processed.{total}",
        )
    if kind is Kind.ORDER_CONFIRMED:
        return (
            f"Your order {order_id} is confirmed",
            f"Good news: every item of order {order_id} is reserved for you.",
        )
    return (
        f"Your order {order_id} could not be fulfilled",
        f"We are sorry: order {order_id} was rejected ({detail or 'no reason given'}).",
    )


@dataclass(frozen=True, slots=True)
class NewNotification:
    """A notification to record for an order, unless it has one of that kind already."""

    order_id: UUID
    kind: Kind
    detail: str | None = None
    amount: str | None = None  # what the order costs ("29.97 EUR"), when it is known
    cause: str | None = None  # the id of the event it answers


@dataclass(frozen=True, slots=True)
class Contact:
    """Whom to tell about an order."""

    order_id: UUID
    customer_id: str
    email: str | None


MAX_RETRY_DELAY_SECONDS = 300.0


def after_failed_send(
    attempts: int, *, max_attempts: int, base_delay_seconds: float
) -> tuple[Status, float]:
    """The status after the `attempts`-th failed send, and how long to wait before the
    next: exponential back-off, capped, then FAILED once every attempt is spent."""
    delay = min(base_delay_seconds * 2 ** (attempts - 1), MAX_RETRY_DELAY_SECONDS)
    return (Status.FAILED if attempts >= max_attempts else Status.PENDING), delay
