"""Baseline: the audit service's tables as they were made before there were migrations.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("stream_offset", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("event_id", sa.String(255), nullable=True),
        sa.Column("type", sa.String(255), nullable=True),
        sa.Column("source", sa.String(255), nullable=True),
        sa.Column("time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("data_version", sa.String(255), nullable=True),
        sa.Column("order_id", sa.String(36), nullable=True),
        sa.Column("correlation_id", sa.String(255), nullable=True),
        sa.Column("causation_id", sa.String(255), nullable=True),
        sa.Column("trace_id", sa.String(32), nullable=True),
        sa.Column("producer", sa.String(64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("duplicate", sa.Boolean(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=True),
    )
    op.create_index("ix_audit_events_event_id", "audit_events", ["event_id"])
    op.create_index("ix_audit_events_order", "audit_events", ["order_id", "stream_offset"])
    op.create_index("ix_audit_events_type", "audit_events", ["type", "stream_offset"])
    op.create_table(
        "stream_offsets",
        sa.Column("stream", sa.String(255), primary_key=True),
        sa.Column("last_offset", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "observations",
        sa.Column("order_id", sa.String(36), primary_key=True),
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "dead_letter_sightings",
        sa.Column("queue", sa.String(255), primary_key=True),
        sa.Column("message_id", sa.String(255), primary_key=True),
        sa.Column("order_id", sa.String(36), nullable=True),
        sa.Column("event_type", sa.String(255), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=True),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("present", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_dead_letter_sightings_order_id", "dead_letter_sightings", ["order_id"])


def downgrade() -> None:
    op.drop_table("dead_letter_sightings")
    op.drop_table("observations")
    op.drop_table("stream_offsets")
    op.drop_table("audit_events")
