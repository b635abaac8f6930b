"""An event encoded for the wire, with where it goes: what the outbox stores and the relay
publishes."""

from dataclasses import dataclass
from datetime import UTC, datetime

from shared.contract.envelope import CloudEvent, encode


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    id: str
    exchange: str
    routing_key: str
    event_type: str
    correlation_id: str
    body: bytes
    created_at: datetime

    @classmethod
    def of(cls, event: CloudEvent, exchange: str, routing_key: str = "") -> "OutboundMessage":
        return cls(
            id=event.id,
            exchange=exchange,
            routing_key=routing_key,
            event_type=event.type,
            correlation_id=event.correlation_id,
            body=encode(event),
            created_at=event.time or datetime.now(UTC),
        )
