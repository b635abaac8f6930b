"""What the notification handlers work with: contacts and notifications, as protocols. The
SQL ones are in `adapters/`, the unit tests' in-memory ones in `tests/unit/fakes.py`."""

from collections.abc import Callable, Iterable
from typing import Protocol

from notification_service.domain.model import Contact, NewNotification
from shared.core.uow import UnitOfWork


class ContactRepository(Protocol):
    def remember(self, contacts: Iterable[Contact]) -> None:
        """Whom to tell about each order (the first contact recorded for an order stays)."""
        ...


class NotificationRepository(Protocol):
    def add(self, wanted: Iterable[NewNotification]) -> None:
        """Record each unless its order has a notification of that kind already."""
        ...


class NotificationUnitOfWork(UnitOfWork):
    contacts: ContactRepository
    notifications: NotificationRepository
    wake_sender: Callable[[], None]

    def send_when_committed(self) -> None:
        """Have what this unit of work recorded sent as soon as it has committed (the
        sender also finds it on its own, a moment later)."""
        self.on_commit(self.wake_sender)
