"""Indexing the stream: what each message is (genuine, rejected, invalid), and its row.

Every message gets a row, whatever it is, and the offset moves past it in the same
transaction: a message that cannot be made sense of is indexed as `invalid` (or `rejected`
when its signature does not hold) with the reason, never raised, because a stream has no
dead-letter queue to move it to and reading would otherwise stop there for ever. Forged
messages are indexed (as `rejected`), not skipped: the log is where an operator looks for
who published what, and a forgery on the stream is exactly what they must see. A rejected
or invalid row is never taken for the event it claims to be: it is not counted as a copy
of a genuine one, `GET /events/{id}` prefers the genuine row, and the page shows it in red.

Indexing is deterministic: the same stream gives the same rows, which is what lets the
index be deleted and rebuilt from the stream's first offset."""

from collections.abc import Sequence
from typing import Any

from audit_service.domain.model import IndexedEvent, LoggedMessage, order_id_of, trace_id_of
from audit_service.unit_of_work import AuditUnitOfWork
from shared.contract import headers as h
from shared.contract.envelope import CloudEvent, InvalidMessage, decode
from shared.contract.events import EventSchemas
from shared.contract.signing import Untrusted, Verifier, authorize

STREAM = "audit.events"
MAX_REASON = 500


def index(
    messages: Sequence[LoggedMessage],
    uow: AuditUnitOfWork,
    *,
    verifier: Verifier,
    schemas: EventSchemas,
) -> list[IndexedEvent]:
    """Index `messages` (consecutive, in offset order) and move the stream's offset past
    them; the rows, for whoever shows them once committed."""
    if not messages:
        return []
    rows = [examine(message, verifier=verifier, schemas=schemas) for message in messages]
    genuine_ids = {r.event_id for r in rows if r.verdict == "genuine" and r.event_id}
    seen = uow.events.genuine_ids_among(genuine_ids)
    marked = []
    for row in rows:
        event_id = row.event_id
        if row.verdict == "genuine" and event_id is not None:
            if event_id in seen:
                row = _as_duplicate(row)
            seen.add(event_id)
        marked.append(row)
    uow.events.add(marked)
    uow.offsets.advance(STREAM, messages[-1].offset)
    return marked


def examine(message: LoggedMessage, *, verifier: Verifier, schemas: EventSchemas) -> IndexedEvent:
    trace_id = trace_id_of(message.headers.get(h.TRACEPARENT))
    producer: str | None = None
    envelope: CloudEvent | None = None
    try:
        producer = verifier.verify(message.headers, message.body)
        envelope = decode(message.body)
        authorize(producer, envelope)
        if schemas.model(envelope.type, envelope.dataversion) is not None:
            schemas.parse(envelope)  # raises InvalidMessage when the data fails its schema
    except Untrusted as exc:
        return _row(message, "rejected", str(exc), trace_id, None, envelope or _claimed(message))
    except InvalidMessage as exc:
        return _row(message, "invalid", str(exc), trace_id, producer, envelope)
    return _row(message, "genuine", None, trace_id, producer, envelope)


def _claimed(message: LoggedMessage) -> CloudEvent | None:
    """What an unproven message claims to be, to show it where it claims to belong."""
    try:
        return decode(message.body)
    except InvalidMessage:
        return None


def _row(
    message: LoggedMessage,
    verdict: Any,
    reason: str | None,
    trace_id: str | None,
    producer: str | None,
    envelope: CloudEvent | None,
) -> IndexedEvent:
    data = envelope.data if envelope is not None and not isinstance(envelope.data, bytes) else None
    return IndexedEvent(
        offset=message.offset,
        verdict=verdict,
        event_id=_short(envelope.id if envelope else message.message_id),
        type=_short(envelope.type if envelope else message.type),
        source=_short(envelope.source) if envelope else None,
        time=envelope.time if envelope else None,
        data_version=_short(envelope.dataversion) if envelope else None,
        order_id=order_id_of(data),
        correlation_id=_short(envelope.correlation_id) if envelope else None,
        causation_id=_short(envelope.causation_id) if envelope else None,
        trace_id=trace_id,
        producer=producer,
        reason=reason[:MAX_REASON] if reason else None,
        duplicate=False,
        data=data,
    )


def _as_duplicate(row: IndexedEvent) -> IndexedEvent:
    fields = {name: getattr(row, name) for name in IndexedEvent.__dataclass_fields__}
    return IndexedEvent(**{**fields, "duplicate": True})


def _short(value: str | None, limit: int = 255) -> str | None:
    return None if value is None else value[:limit]
