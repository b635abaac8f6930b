"""What the log says about each message on the stream, and an order's journey through the
services: the rules, no I/O."""

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

# genuine: signed by the producer allowed to publish its type, a valid CloudEvent;
# rejected: not proven to come from such a producer (unsigned, unknown key, bad signature,
#   a producer publishing another's type): a forgery, or a misconfigured publisher;
# invalid: from a trusted producer, but not a valid CloudEvent or its data fails its schema.
Verdict = Literal["genuine", "rejected", "invalid"]

_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-?([0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}$")


@dataclass(frozen=True)
class LoggedMessage:
    """A message as it sits on the stream."""

    offset: int
    body: bytes
    headers: Mapping[str, Any]
    message_id: str | None
    type: str | None


@dataclass(frozen=True)
class IndexedEvent:
    """One row of the index: one message of the stream, at its offset."""

    offset: int
    verdict: Verdict
    event_id: str | None
    type: str | None
    source: str | None
    time: datetime | None
    data_version: str | None
    order_id: str | None
    correlation_id: str | None
    causation_id: str | None
    trace_id: str | None
    producer: str | None  # whose key signed it, when one did
    reason: str | None  # why it is not genuine
    duplicate: bool  # a genuine event already logged at an earlier offset (at-least-once)
    data: Any  # the event's data (as claimed, when not genuine)


def trace_id_of(traceparent: object) -> str | None:
    """The trace id of a W3C `traceparent` header, when it is one (and not all zeros)."""
    if isinstance(traceparent, bytes):
        traceparent = traceparent.decode(errors="replace")
    if not isinstance(traceparent, str):
        return None
    found = _TRACEPARENT.match(traceparent.strip())
    if found is None or set(found.group(1)) == {"0"}:
        return None
    return found.group(1)


def order_id_of(data: Any) -> str | None:
    """The order an event's data is about: its `order_id`, when that is a UUID."""
    if not isinstance(data, Mapping):
        return None
    value = data.get("order_id")
    if not isinstance(value, str) or not _UUID.match(value):
        return None
    return value.lower() if "-" in value else _dashed(value.lower())


def _dashed(hex32: str) -> str:
    return f"{hex32[:8]}-{hex32[8:12]}-{hex32[12:16]}-{hex32[16:20]}-{hex32[20:]}"


# --- an order's journey ---------------------------------------------------------------

Step = Literal["placed", "reserved", "rejected", "confirmed", "notified", "forged", "invalid"]
STEP_OF_TYPE: dict[str, Step] = {
    "OrderPlaced": "placed",
    "StockReserved": "reserved",
    "StockRejected": "rejected",
}
FINAL_STATUSES = ("CONFIRMED", "REJECTED")
NOTIFICATION_FOR = {"CONFIRMED": "order-confirmed", "REJECTED": "order-rejected"}


@dataclass(frozen=True)
class Observation:
    """What another service's API said about an order: its status, or a notification."""

    order_id: str
    kind: Literal["status", "notification"]
    name: str  # CONFIRMED / REJECTED, or the notification's kind
    state: str  # the status again, or the notification's status (pending, sent, failed)
    at: datetime


@dataclass(frozen=True)
class DeadLetterSighting:
    """A message of an order's flow seen in a dead-letter queue."""

    queue: str
    message_id: str
    order_id: str | None
    event_type: str | None
    reason: str | None
    attempts: int | None
    seen_at: datetime
    present: bool  # still in the queue at the last look (False: replayed or purged since)


@dataclass(frozen=True)
class Hop:
    step: str  # placed, reserved, ..., or the notification's kind
    label: str
    at: datetime | None
    since_previous_ms: float | None
    bad: bool = False  # shown in red: forged, invalid, dead-lettered
    detail: str = ""
    event_id: str | None = None


@dataclass
class Journey:
    """An order's timeline: its events from the log, what the services' APIs said, and its
    dead letters, in time order."""

    order_id: str
    hops: list[Hop] = field(default_factory=list)
    status: str = "PENDING"
    customer_id: str | None = None
    items: list[dict[str, Any]] = field(default_factory=list)
    trace_id: str | None = None

    @property
    def troubled(self) -> bool:
        return any(hop.bad for hop in self.hops)


def journey(
    order_id: str,
    events: Sequence[IndexedEvent],
    observations: Sequence[Observation] = (),
    dead_letters: Sequence[DeadLetterSighting] = (),
) -> Journey:
    found = Journey(order_id)
    entries: list[tuple[datetime | None, int, Hop]] = []
    for n, event in enumerate(sorted(events, key=lambda e: e.offset)):
        entries.append((event.time, n, _hop_of(event)))
        if event.verdict == "genuine" and event.type == "OrderPlaced" and not event.duplicate:
            data = event.data if isinstance(event.data, Mapping) else {}
            found.customer_id = data.get("customer_id")
            found.items = [dict(i) for i in data.get("items", []) if isinstance(i, Mapping)]
            found.trace_id = found.trace_id or event.trace_id
            found.status = "PENDING"
    for observation in observations:
        if observation.kind == "status":
            found.status = observation.name
            if observation.name in FINAL_STATUSES:
                hop = Hop(
                    "confirmed" if observation.name == "CONFIRMED" else "rejected-order",
                    observation.name,
                    observation.at,
                    None,
                )
                entries.append((observation.at, len(entries), hop))
        else:
            hop = Hop(
                "notified",
                observation.name,
                observation.at,
                None,
                bad=observation.state == "failed",
                detail=observation.state,
            )
            entries.append((observation.at, len(entries), hop))
    for letter in dead_letters:
        attempts = f" after {letter.attempts} attempt(s)" if letter.attempts else ""
        gone = "" if letter.present else " (no longer in the queue: replayed or purged)"
        hop = Hop(
            "dead-lettered",
            f"{letter.event_type or 'message'} dead-lettered",
            letter.seen_at,
            None,
            bad=True,
            detail=f"{letter.queue}{attempts}: {letter.reason or 'no reason given'}{gone}",
            event_id=letter.message_id,
        )
        entries.append((letter.seen_at, len(entries), hop))
    entries.sort(key=lambda entry: (entry[0] is None, entry[0] or datetime.min, entry[1]))
    previous: datetime | None = None
    for at, _, hop in entries:
        since = None
        if at is not None and previous is not None:
            since = max(0.0, (at - previous).total_seconds() * 1000)
        found.hops.append(Hop(hop.step, hop.label, at, since, hop.bad, hop.detail, hop.event_id))
        if at is not None and not hop.bad:
            previous = at
    return found


def _hop_of(event: IndexedEvent) -> Hop:
    label = event.type or "message"
    if event.verdict == "rejected":
        return Hop(
            "forged",
            f"{label} rejected",
            event.time,
            None,
            True,
            event.reason or "",
            event.event_id,
        )
    if event.verdict == "invalid":
        return Hop(
            "invalid",
            f"{label} invalid",
            event.time,
            None,
            True,
            event.reason or "",
            event.event_id,
        )
    step = STEP_OF_TYPE.get(label, label)
    detail = "published again (same event id): consumers apply it once" if event.duplicate else ""
    if event.type == "StockRejected" and isinstance(event.data, Mapping):
        detail = str(event.data.get("reason") or detail)
    return Hop(step, label, event.time, None, False, detail, event.event_id)


def wants_follow_up(observed: Sequence[Observation]) -> bool:
    """Whether an order still has something to come from the APIs (given what they said of
    it so far): its final status, or the notifications that outcome calls for (received,
    then confirmed or rejected) in a final state."""
    statuses = [o.name for o in observed if o.kind == "status" and o.name in FINAL_STATUSES]
    if not statuses:
        return True
    wanted = {"order-received", NOTIFICATION_FOR[statuses[-1]]}
    final = {o.name for o in observed if o.kind == "notification" and o.state != "pending"}
    return not wanted <= final
