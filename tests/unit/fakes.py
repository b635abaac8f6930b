"""In-memory units of work for the handler tests (cosmicpython's `FakeUnitOfWork`), and
events built from the contract's own payload models.

Each fake repository keeps the promise its protocol makes, including what the SQL one gets
from its table: reservations and orders are unique per id (a second insert is an
integrity error), a notification is unique per (order, kind) and a second one is ignored
like `ON CONFLICT DO NOTHING`, the first contact of an order stays, a stock lock returns
only the skus that exist, `set_available` keeps what is reserved, stock never goes
negative. What a repository hands out is a copy, as a row read from a table would be:
changing an order without saving it changes nothing stored.

A fake unit of work is "committed" with `commit(uow)`, which runs its after-commit
callbacks as the transaction runner does; `uow.next_transaction()` is a fresh unit of
work on the same stored state, for "a later delivery, in another transaction".
"""

import copy
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import TypeVar
from uuid import UUID

from inventory_service.domain.model import Reservation, StockLevel
from inventory_service.unit_of_work import InventoryUnitOfWork
from notification_service.domain.model import (
    Contact,
    Kind,
    NewNotification,
    Notification,
    Status,
    compose,
)
from notification_service.unit_of_work import NotificationUnitOfWork
from order_service.domain.model import Order
from order_service.unit_of_work import OrderUnitOfWork
from shared.contract.envelope import CloudEvent, decode, new_event
from shared.contract.events import (
    EventData,
    OrderLine,
    OrderPlacedV2,
    PricedOrderLine,
    StockRejectedV1,
    StockReservedV1,
)
from shared.core.handlers import Event
from shared.core.uow import UnitOfWork

DataT = TypeVar("DataT", bound=EventData)


class IntegrityError(Exception):
    """What the database raises for a row that breaks a unique or check constraint."""


class FakeInbox:
    """Event ids per consumer, like the inbox table's primary key (consumer, event id)."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, str]] = {}

    def record_new(self, consumer: str, events: Iterable[tuple[str, str]]) -> set[str]:
        seen = self.rows.setdefault(consumer, {})
        new: set[str] = set()
        for event_id, event_type in events:
            if event_id not in seen:
                seen[event_id] = event_type
                new.add(event_id)
        return new


# --- inventory ----------------------------------------------------------------------------


class FakeStockRepository:
    def __init__(self, levels: Iterable[StockLevel] = ()) -> None:
        self.levels: dict[str, StockLevel] = {level.sku: level for level in levels}
        self.locked: list[set[str]] = []  # the skus asked for by each lock()

    def lock(self, skus: Iterable[str]) -> dict[str, StockLevel]:
        wanted = set(skus)
        self.locked.append(wanted)
        return {sku: self.levels[sku] for sku in sorted(wanted) if sku in self.levels}

    def save(self, levels: Iterable[StockLevel]) -> None:
        for level in levels:
            if level.available < 0 or level.reserved < 0:
                raise IntegrityError(f"stock of {level.sku} would be negative: {level}")
            if level.sku in self.levels:  # an UPDATE: a sku that does not exist stays so
                self.levels[level.sku] = level

    def set_available(self, sku: str, available: int) -> StockLevel:
        if available < 0:
            raise IntegrityError(f"stock of {sku} would be negative: {available}")
        current = self.levels.get(sku)
        level = (
            StockLevel(sku, available) if current is None else replace(current, available=available)
        )
        self.levels[sku] = level
        return level


class FakeReservationRepository:
    def __init__(self, reservations: Iterable[Reservation] = ()) -> None:
        self.by_order: dict[UUID, Reservation] = {r.order_id: r for r in reservations}

    def existing(self, order_ids: Iterable[UUID]) -> set[UUID]:
        return {order_id for order_id in order_ids if order_id in self.by_order}

    def add(self, reservations: Sequence[Reservation]) -> None:
        for reservation in reservations:
            if reservation.order_id in self.by_order:
                raise IntegrityError(f"order {reservation.order_id} has a reservation already")
            self.by_order[reservation.order_id] = reservation


class FakeInventoryUnitOfWork(InventoryUnitOfWork):
    def __init__(
        self,
        *levels: StockLevel,
        stock: FakeStockRepository | None = None,
        reservations: FakeReservationRepository | None = None,
        inbox: FakeInbox | None = None,
    ) -> None:
        super().__init__()
        self.stock: FakeStockRepository = stock or FakeStockRepository(levels)
        self.reservations: FakeReservationRepository = reservations or FakeReservationRepository()
        self.inbox: FakeInbox = inbox or FakeInbox()

    def next_transaction(self) -> "FakeInventoryUnitOfWork":
        return FakeInventoryUnitOfWork(
            stock=self.stock, reservations=self.reservations, inbox=self.inbox
        )


# --- orders -------------------------------------------------------------------------------


class FakeOrderRepository:
    def __init__(self, orders: Iterable[Order] = ()) -> None:
        self.rows: dict[UUID, Order] = {}
        self.saves: list[list[UUID]] = []  # the ids given to each save_outcomes()
        self.add_many(list(orders))

    def add_many(self, new: Sequence[Order]) -> None:
        keys = {o.idempotency_key for o in self.rows.values() if o.idempotency_key is not None}
        for order in new:
            if order.id in self.rows:
                raise IntegrityError(f"order {order.id} exists")
            if order.idempotency_key is not None:
                if order.idempotency_key in keys:
                    raise IntegrityError(f"idempotency key {order.idempotency_key!r} is taken")
                keys.add(order.idempotency_key)
            self.rows[order.id] = copy.deepcopy(order)

    def by_idempotency_keys(self, keys: Iterable[str]) -> dict[str, Order]:
        wanted = set(keys)
        return {
            order.idempotency_key: copy.deepcopy(order)
            for order in self.rows.values()
            if order.idempotency_key is not None and order.idempotency_key in wanted
        }

    def lock_many(self, order_ids: Iterable[UUID]) -> dict[UUID, Order]:
        return {i: copy.deepcopy(self.rows[i]) for i in set(order_ids) if i in self.rows}

    def save_outcomes(self, changed: Iterable[Order]) -> None:
        orders = list(changed)
        self.saves.append([order.id for order in orders])
        for order in orders:
            if order.id in self.rows:  # an UPDATE by id
                self.rows[order.id] = copy.deepcopy(order)

    def get(self, order_id: UUID) -> Order:
        return copy.deepcopy(self.rows[order_id])


class FakeOrderUnitOfWork(OrderUnitOfWork):
    def __init__(
        self,
        *orders: Order,
        repository: FakeOrderRepository | None = None,
        inbox: FakeInbox | None = None,
    ) -> None:
        super().__init__()
        self.orders: FakeOrderRepository = repository or FakeOrderRepository(orders)
        self.inbox: FakeInbox = inbox or FakeInbox()

    def next_transaction(self) -> "FakeOrderUnitOfWork":
        return FakeOrderUnitOfWork(repository=self.orders, inbox=self.inbox)


# --- notifications ------------------------------------------------------------------------


class FakeContactRepository:
    def __init__(self) -> None:
        self.by_order: dict[UUID, Contact] = {}

    def remember(self, contacts: Iterable[Contact]) -> None:
        for contact in contacts:
            self.by_order.setdefault(contact.order_id, contact)


class FakeNotificationRepository:
    def __init__(self, contacts: FakeContactRepository | None = None) -> None:
        self.by_key: dict[tuple[UUID, Kind], Notification] = {}
        self.contacts = contacts or FakeContactRepository()
        self.leased: set[UUID] = set()

    def add(self, wanted: Iterable[NewNotification]) -> None:
        now = datetime.now(UTC)
        for new in wanted:
            key = (new.order_id, new.kind)
            if key in self.by_key:  # unique (order_id, kind), ON CONFLICT DO NOTHING
                continue
            subject, body = compose(new.kind, new.order_id, new.detail)
            self.by_key[key] = Notification(
                id=uuid.uuid4(),
                order_id=new.order_id,
                kind=new.kind,
                recipient=None,
                subject=subject,
                body=body,
                status=Status.PENDING,
                created_at=now,
            )

    def of(self, order_id: UUID) -> list[Notification]:
        return [n for (o, _), n in self.by_key.items() if o == order_id]

    def claim_sendable_of(self, order_ids: Iterable[UUID]) -> list[Notification]:
        """As the SQL one: pending, not leased yet, and the order's contact known."""
        wanted = set(order_ids)
        ready = [
            n
            for (order_id, _), n in self.by_key.items()
            if order_id in wanted
            and order_id in self.contacts.by_order
            and n.status is Status.PENDING
            and n.id not in self.leased
        ]
        self.leased.update(n.id for n in ready)
        return ready


class FakeNotificationUnitOfWork(NotificationUnitOfWork):
    def __init__(
        self,
        *,
        contacts: FakeContactRepository | None = None,
        notifications: FakeNotificationRepository | None = None,
        inbox: FakeInbox | None = None,
    ) -> None:
        super().__init__()
        self.contacts: FakeContactRepository = contacts or FakeContactRepository()
        self.notifications: FakeNotificationRepository = (
            notifications or FakeNotificationRepository(self.contacts)
        )
        self.inbox: FakeInbox = inbox or FakeInbox()
        self.handed: list[Notification] = []  # what went to the sender (after commit)
        self.hand_to_sender: Callable[[Sequence[Notification]], None] = self.handed.extend

    def next_transaction(self) -> "FakeNotificationUnitOfWork":
        return FakeNotificationUnitOfWork(
            contacts=self.contacts, notifications=self.notifications, inbox=self.inbox
        )


# --- committing, and what was staged ------------------------------------------------------


def commit(uow: UnitOfWork) -> None:
    """What the transaction runner does once the unit of work has committed: run its
    after-commit callbacks (once)."""
    callbacks, uow.committed_callbacks = uow.committed_callbacks, []
    for callback in callbacks:
        callback()


@dataclass(frozen=True)
class Staged:
    exchange: str
    routing_key: str
    event: CloudEvent


def staged(uow: UnitOfWork) -> list[Staged]:
    """The events a unit of work would publish on commit, decoded from their wire form."""
    return [Staged(m.exchange, m.routing_key, decode(m.body)) for m in uow.staged]


# --- events -------------------------------------------------------------------------------


def event_of(
    data: DataT,
    *,
    cause: CloudEvent | None = None,
    id: str | None = None,
    source: str = "/tests",
) -> Event[DataT]:
    """An event as a consumer gets it: the envelope, and its data parsed back from it."""
    envelope = new_event(
        type=data.event_type,
        source=source,
        data=data,
        dataversion=data.version,
        cause=cause,
        id=id,
    )
    return Event(envelope, type(data).model_validate(envelope.data))


def lines(items: Sequence[tuple[str, int]]) -> list[OrderLine]:
    return [OrderLine(sku=sku, quantity=quantity) for sku, quantity in items]


def priced_lines(
    items: Sequence[tuple[str, int]], unit_price: str | None = None
) -> list[PricedOrderLine]:
    """The lines of an OrderPlaced v2 (unpriced unless `unit_price` is given)."""
    return [PricedOrderLine(sku=s, quantity=q, unit_price=unit_price) for s, q in items]


def order_placed(
    items: Sequence[tuple[str, int]],
    *,
    order_id: UUID | None = None,
    customer_id: str = "c-42",
    email: str | None = "ada@example.com",
    unit_price: str | None = None,
    currency: str | None = None,
) -> Event[OrderPlacedV2]:
    """An OrderPlaced as handlers see it (v2; priced when `unit_price` is given)."""
    priced = priced_lines(items, unit_price)
    total = None
    if unit_price is not None and currency is not None:
        total = format(sum(Decimal(unit_price) * q for _, q in items), "f")
    return event_of(
        OrderPlacedV2(
            order_id=order_id or uuid.uuid4(),
            customer_id=customer_id,
            email=email,
            items=priced,
            currency=currency,
            total=total,
        )
    )


def stock_reserved(
    order_id: UUID, items: Sequence[tuple[str, int]] = (("A", 1),)
) -> Event[StockReservedV1]:
    return event_of(StockReservedV1(order_id=order_id, items=lines(items)))


def stock_rejected(
    order_id: UUID, reason: str = "insufficient stock", items: Sequence[tuple[str, int]] = ()
) -> Event[StockRejectedV1]:
    return event_of(StockRejectedV1(order_id=order_id, items=lines(items), reason=reason))


def republished(event: Event[DataT]) -> Event[DataT]:
    """The same data under another event id: the order's event published a second time,
    which no inbox recognises; only the domain's own key can."""
    return event_of(event.data, source=event.envelope.source)
