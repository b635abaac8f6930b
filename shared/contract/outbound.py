"""An event encoded for the wire, with where it goes: what the outbox stores and the relay
publishes."""

from collections.abc import Mapping
from dataclasses import dataclass, field
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
    # AMQP headers that travel with it: its signature (and later its trace context).
    headers: Mapping[str, str] = field(default_factory=dict)

    def with_headers(self, headers: Mapping[str, str]) -> "OutboundMessage":
        # Built field by field: `dataclasses.replace` looks the fields up again on every
        # call (three calls a message: its trace context, its signature, the relay's span).
        return OutboundMessage(
            self.id,
            self.exchange,
            self.routing_key,
            self.event_type,
            self.correlation_id,
            self.body,
            self.created_at,
            {**self.headers, **headers},
        )

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
