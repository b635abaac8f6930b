from sqlalchemy import JSON, CheckConstraint, Column, Integer, MetaData, String, Table, Text, Uuid

from shared.persistence.inbox import inbox_table
from shared.persistence.outbox_store import outbox_table
from shared.persistence.sql import UTCDateTime

metadata = MetaData()

stock = Table(
    "stock",
    metadata,
    Column("sku", String(64), primary_key=True),
    Column("available", Integer, nullable=False),
    Column("reserved", Integer, nullable=False, default=0),
    Column("updated_at", UTCDateTime(), nullable=False),
    CheckConstraint("available >= 0", name="stock_available_not_negative"),
    CheckConstraint("reserved >= 0", name="stock_reserved_not_negative"),
)

reservations = Table(
    "reservations",
    metadata,
    Column("order_id", Uuid, primary_key=True),
    Column("status", String(16), nullable=False),
    Column("reason", Text, nullable=True),
    Column("items", JSON, nullable=False),
    Column("event_id", String(255), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

inbox = inbox_table(metadata)
outbox = outbox_table(metadata)
