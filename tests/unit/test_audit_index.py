"""Indexing the event log, without a broker or a database: each message's verdict and row,
the offset moved in the same unit of work, duplicates told apart, and an order's journey."""

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from audit_service import handlers
from audit_service.domain.model import (
    DeadLetterSighting,
    IndexedEvent,
    LoggedMessage,
    Observation,
    journey,
    order_id_of,
    trace_id_of,
    wants_follow_up,
)
from audit_service.unit_of_work import AuditUnitOfWork
from shared.contract.envelope import encode
from shared.contract.events import (
    INVENTORY_SOURCE,
    ORDER_SOURCE,
    SCHEMAS,
    OrderLine,
    OrderPlacedV2,
    PricedOrderLine,
    StockReservedV1,
    event_of,
)
from tests.support import keys

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


class FakeIndex:
    def __init__(self) -> None:
        self.rows: dict[int, IndexedEvent] = {}

    def add(self, rows: Iterable[IndexedEvent]) -> None:
        for row in rows:
            self.rows.setdefault(row.offset, row)

    def genuine_ids_among(self, event_ids: Iterable[str]) -> set[str]:
        wanted = set(event_ids)
        return {r.event_id for r in self.rows.values() if r.verdict == "genuine"} & wanted  # type: ignore[misc]


class FakeOffsets:
    def __init__(self) -> None:
        self.offsets: dict[str, int] = {}

    def advance(self, stream: str, last_offset: int) -> None:
        self.offsets[stream] = last_offset

    def last(self, stream: str) -> int | None:
        return self.offsets.get(stream)


class FakeUow(AuditUnitOfWork):
    def __init__(self) -> None:
        super().__init__()
        self.events = FakeIndex()
        self.offsets = FakeOffsets()


ORDER = uuid.uuid4()


def placed() -> tuple[bytes, str]:
    data = OrderPlacedV2(
        order_id=ORDER,
        customer_id="c-1",
        email="c@example.com",
        items=[PricedOrderLine(sku="SKU-1", quantity=2)],
    )
    event = event_of(data, source=ORDER_SOURCE)
    return encode(event), event.id


def message(offset: int, body: bytes, headers: dict[str, object]) -> LoggedMessage:
    return LoggedMessage(offset, body, headers, None, None)


def index(uow: FakeUow, *messages: LoggedMessage) -> list[IndexedEvent]:
    return handlers.index(messages, uow, verifier=keys.TRUSTED, schemas=SCHEMAS)


def test_a_genuine_event_is_indexed_with_its_order_trace_and_producer() -> None:
    uow = FakeUow()
    body, event_id = placed()
    headers = {**keys.signed(body, "order"), "traceparent": TRACEPARENT}
    (row,) = index(uow, message(7, body, headers))
    assert row.verdict == "genuine" and row.reason is None
    assert (row.event_id, row.type, row.source) == (event_id, "OrderPlaced", ORDER_SOURCE)
    assert row.order_id == str(ORDER)
    assert row.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert row.producer == "order" and row.data_version == "2"
    assert uow.offsets.last(handlers.STREAM) == 7
    assert uow.events.rows[7] == row


def test_an_unsigned_event_is_indexed_as_rejected_under_the_order_it_claims() -> None:
    uow = FakeUow()
    data = StockReservedV1(order_id=ORDER, items=[OrderLine(sku="SKU-1", quantity=1)])
    body = encode(event_of(data, source=INVENTORY_SOURCE))
    (row,) = index(uow, message(0, body, {}))
    assert row.verdict == "rejected"
    assert row.reason is not None and row.reason.startswith("unsigned")
    assert row.order_id == str(ORDER) and row.type == "StockReserved" and row.producer is None


def test_an_event_signed_by_a_producer_not_allowed_its_type_is_rejected() -> None:
    uow = FakeUow()
    body, _ = placed()
    (row,) = index(uow, message(0, body, keys.signed(body, "inventory")))
    assert row.verdict == "rejected"
    assert "producer not allowed" in (row.reason or "")


def test_a_tampered_body_is_rejected() -> None:
    uow = FakeUow()
    body, _ = placed()
    headers = keys.signed(body, "order")
    (row,) = index(uow, message(0, body.replace(b"c-1", b"c-2"), headers))
    assert row.verdict == "rejected" and "bad signature" in (row.reason or "")


def test_what_is_not_an_event_is_indexed_as_invalid_and_the_offset_moves_past_it() -> None:
    uow = FakeUow()
    garbage = b"not json at all"
    body, _ = placed()
    rows = index(
        uow,
        message(3, garbage, keys.signed(garbage, "order")),
        message(4, body, keys.signed(body, "order")),
    )
    assert [r.verdict for r in rows] == ["invalid", "genuine"]
    assert "not valid JSON" in (rows[0].reason or "")
    assert rows[0].order_id is None
    assert uow.offsets.last(handlers.STREAM) == 4


def test_data_failing_its_schema_is_invalid() -> None:
    uow = FakeUow()
    event = event_of(
        OrderPlacedV2(
            order_id=ORDER, customer_id="c", items=[PricedOrderLine(sku="A", quantity=1)]
        ),
        source=ORDER_SOURCE,
    )
    raw = encode(event).replace(b'"quantity":1', b'"quantity":0')
    (row,) = index(uow, message(0, raw, keys.signed(raw, "order")))
    assert row.verdict == "invalid" and "data is invalid" in (row.reason or "")


def test_a_genuine_event_published_again_is_a_duplicate_and_a_forged_copy_is_not() -> None:
    uow = FakeUow()
    body, _ = placed()
    signed = keys.signed(body, "order")
    first = index(uow, message(0, body, {}), message(1, body, signed), message(2, body, signed))
    later = index(uow, message(3, body, signed))
    assert [(r.verdict, r.duplicate) for r in first + later] == [
        ("rejected", False),
        ("genuine", False),
        ("genuine", True),
        ("genuine", True),
    ]


def test_the_same_stream_gives_the_same_rows() -> None:
    body, _ = placed()
    messages = [message(n, body, keys.signed(body, "order") if n % 2 else {}) for n in range(6)]
    once, again = FakeUow(), FakeUow()
    index(once, *messages[:2])
    index(once, *messages[2:])
    index(again, *messages)
    assert once.events.rows == again.events.rows


def test_trace_ids_and_order_ids_are_read_only_when_well_formed() -> None:
    assert trace_id_of(TRACEPARENT.encode()) == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert trace_id_of("00-" + "0" * 32 + "-00f067aa0ba902b7-01") is None
    assert trace_id_of("garbage") is None and trace_id_of(None) is None
    assert order_id_of({"order_id": str(ORDER)}) == str(ORDER)
    assert order_id_of({"order_id": ORDER.hex}) == str(ORDER)
    assert order_id_of({"order_id": "../../etc"}) is None
    assert order_id_of(["order_id"]) is None


def at(ms: int) -> datetime:
    return datetime(2026, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)


def row(offset: int, type: str, ms: int, verdict: str = "genuine") -> IndexedEvent:
    return IndexedEvent(
        offset,
        verdict,
        f"e{offset}",
        type,
        None,
        at(ms),
        "1",
        str(ORDER),
        None,
        None,  # type: ignore[arg-type]
        "t" * 32,
        None,
        "unsigned" if verdict != "genuine" else None,
        False,
        {"order_id": str(ORDER), "customer_id": "c-1", "items": [{"sku": "A", "quantity": 1}]},
    )


def test_a_journey_orders_its_hops_in_time_with_the_time_between_them() -> None:
    found = journey(
        str(ORDER),
        [
            row(0, "OrderPlaced", 0),
            row(1, "StockReserved", 40),
            row(2, "StockReserved", 90, "rejected"),
        ],
        [
            Observation(str(ORDER), "status", "CONFIRMED", "CONFIRMED", at(55)),
            Observation(str(ORDER), "notification", "order-received", "sent", at(20)),
        ],
        [
            DeadLetterSighting(
                "order.inventory-events",
                "e2",
                str(ORDER),
                "StockReserved",
                "Untrusted: unsigned",
                1,
                at(95),
                True,
            )
        ],
    )
    assert [h.label for h in found.hops] == [
        "OrderPlaced",
        "order-received",
        "StockReserved",
        "CONFIRMED",
        "StockReserved rejected",
        "StockReserved dead-lettered",
    ]
    assert [h.since_previous_ms for h in found.hops[:4]] == [None, 20, 20, 15]
    assert [h.bad for h in found.hops] == [False, False, False, False, True, True]
    assert found.status == "CONFIRMED" and found.customer_id == "c-1" and found.troubled
    assert "order.inventory-events after 1 attempt(s): Untrusted" in found.hops[-1].detail


def test_an_order_is_followed_until_its_outcome_and_both_notifications_are_final() -> None:
    oid = str(ORDER)
    status = Observation(oid, "status", "REJECTED", "REJECTED", at(0))
    received = Observation(oid, "notification", "order-received", "sent", at(0))
    rejected = Observation(oid, "notification", "order-rejected", "pending", at(0))
    assert wants_follow_up([])
    assert wants_follow_up([received])
    assert wants_follow_up([status, received, rejected])
    sent = Observation(oid, "notification", "order-rejected", "sent", at(1))
    assert not wants_follow_up([status, received, sent])
