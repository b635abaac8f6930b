from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

from shared.persistence.sql import UTCDateTime

metadata = MetaData()

# One row per message of the stream, at its offset: rebuilt from the stream when deleted.
events = Table(
    "audit_events",
    metadata,
    Column("stream_offset", BigInteger, primary_key=True, autoincrement=False),
    Column("verdict", String(16), nullable=False),
    Column("event_id", String(255), nullable=True, index=True),
    Column("type", String(255), nullable=True),
    Column("source", String(255), nullable=True),
    Column("time", UTCDateTime(), nullable=True),
    Column("data_version", String(255), nullable=True),
    Column("order_id", String(36), nullable=True),
    Column("correlation_id", String(255), nullable=True),
    Column("causation_id", String(255), nullable=True),
    Column("trace_id", String(32), nullable=True),
    Column("producer", String(64), nullable=True),
    Column("reason", Text, nullable=True),
    Column("duplicate", Boolean, nullable=False),
    Column("data", JSON, nullable=True),
    Index("ix_audit_events_order", "order_id", "stream_offset"),
    Index("ix_audit_events_type", "type", "stream_offset"),
)

# How far each stream is indexed: written in the same transaction as the rows.
stream_offsets = Table(
    "stream_offsets",
    metadata,
    Column("stream", String(255), primary_key=True),
    Column("last_offset", BigInteger, nullable=False),
)

# What the other services' APIs said about an order (not from the stream: kept apart).
observations = Table(
    "observations",
    metadata,
    Column("order_id", String(36), primary_key=True),
    Column("kind", String(16), primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
)

dead_letters = Table(
    "dead_letter_sightings",
    metadata,
    Column("queue", String(255), primary_key=True),
    Column("message_id", String(255), primary_key=True),
    Column("order_id", String(36), nullable=True, index=True),
    Column("event_type", String(255), nullable=True),
    Column("reason", Text, nullable=True),
    Column("attempts", Integer, nullable=True),
    Column("seen_at", UTCDateTime(), nullable=False),
    Column("present", Boolean, nullable=False),
)
