from sqlalchemy import JSON, Column, Index, MetaData, String, Table, Text, Uuid

from shared.persistence.inbox import inbox_table
from shared.persistence.outbox_store import outbox_table
from shared.persistence.sql import UTCDateTime

metadata = MetaData()

orders = Table(
    "orders",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("customer_id", String(128), nullable=False),
    Column("email", String(254), nullable=True),
    Column("items", JSON, nullable=False),
    Column("status", String(16), nullable=False),
    Column("rejection_reason", Text, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("idempotency_key", String(255), nullable=True, unique=True),
    Column("request_hash", String(64), nullable=True),
    Column("currency", String(3), nullable=True),
)
Index("ix_orders_status_created", orders.c.status, orders.c.created_at)
Index("ix_orders_created", orders.c.created_at)

inbox = inbox_table(metadata)
outbox = outbox_table(metadata)
