from sqlalchemy import JSON, Column, Integer, MetaData, String, Table, Text, UniqueConstraint, Uuid

from shared.persistence.inbox import inbox_table
from shared.persistence.sql import UTCDateTime

metadata = MetaData()

contacts = Table(
    "contacts",
    metadata,
    Column("order_id", Uuid, primary_key=True),
    Column("customer_id", String(128), nullable=False),
    Column("email", String(254), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
)

notifications = Table(
    "notifications",
    metadata,
    Column("id", Uuid, primary_key=True),
    # Looked up by order through the unique constraint's index, which leads with order_id.
    Column("order_id", Uuid, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("recipient", String(254), nullable=True),
    Column("subject", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("claimed_until", UTCDateTime(), nullable=False),
    Column("sent_at", UTCDateTime(), nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text, nullable=True),
    Column("trace", JSON, nullable=True),
    UniqueConstraint("order_id", "kind", name="uq_notifications_order_kind"),
)

inbox = inbox_table(metadata)
