"""What the notification handlers work with: contacts and notifications, as protocols. The
SQL ones are in `adapters/`, the unit tests' in-memory ones in `tests/unit/fakes.py`."""

from collections.abc import Callable, Iterable, Sequence
from typing import Protocol
from uuid import UUID

from notification_service.domain.model import Contact, NewNotification, Notification
from shared.core.uow import UnitOfWork


class ContactRepository(Protocol):
    def remember(self, contacts: Iterable[Contact]) -> None:
        """Whom to tell about each order (the first contact recorded for an order stays)."""
        ...


class NotificationRepository(Protocol):
    def add(self, wanted: Iterable[NewNotification]) -> None:
        """Record each unless its order has a notification of that kind already."""
        ...

    def claim_sendable_of(self, order_ids: Iterable[UUID]) -> list[Notification]:
        """The pending notifications of these orders whose contact is known, leased to
        this process (no other instance sends them while the lease runs)."""
        ...


class NotificationUnitOfWork(UnitOfWork):
    contacts: ContactRepository
    notifications: NotificationRepository
    # Takes notifications to send now (the sender also finds pending ones on its own).
    hand_to_sender: Callable[[Sequence[Notification]], None]

    def send_when_committed(self, order_ids: Iterable[UUID]) -> None:
        """Have what these orders are ready to be told sent as soon as this unit of work
        has committed, never before: taken here, in its transaction, so the sender needs
        no transaction of its own to find them."""
        ready = self.notifications.claim_sendable_of(order_ids)
        if ready:
            self.on_commit(lambda: self.hand_to_sender(ready))
