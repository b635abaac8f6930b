"""Steps that several services' migrations take alike, each frozen as it was when a
revision first used it: a revision must build the same schema forever, so these never
change; a later change to the inbox or outbox is a new step here and a new revision in each
service that has the table."""

import sqlalchemy as sa
from alembic import op


def create_inbox_v1() -> None:
    """The inbox as `shared.persistence.inbox` made it before there were migrations."""
    op.create_table(
        "inbox",
        sa.Column("consumer", sa.String(255), primary_key=True),
        sa.Column("event_id", sa.String(255), primary_key=True),
        sa.Column("event_type", sa.String(255), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )


def create_outbox_v1() -> None:
    """The outbox as `shared.persistence.outbox_store` made it before there were migrations."""
    op.create_table(
        "outbox",
        sa.Column("id", sa.String(255), primary_key=True),
        sa.Column("exchange", sa.String(255), nullable=False),
        sa.Column("routing_key", sa.String(255), nullable=False),
        sa.Column("event_type", sa.String(255), nullable=False),
        sa.Column("correlation_id", sa.String(255), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("headers", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
    )
    op.create_index("ix_outbox_unpublished", "outbox", ["claimed_until", "published_at"])


def create_retention_indexes_v1(*, outbox: bool) -> None:
    """What pruning reads by on PostgreSQL (shared.persistence.retention): the inbox by
    arrival, the outbox's published rows by publication. Built CONCURRENTLY, outside a
    transaction, so that the services writing these tables are never blocked while a big
    table is indexed. SQLite needs none: it prunes in rowid order (the order of arrival)."""
    if op.get_context().dialect.name != "postgresql":
        return
    with op.get_context().autocommit_block():
        op.create_index(
            "ix_inbox_received_at",
            "inbox",
            ["received_at"],
            postgresql_concurrently=True,
            if_not_exists=True,
        )
        if outbox:
            op.create_index(
                "ix_outbox_published_at",
                "outbox",
                ["published_at"],
                postgresql_where=sa.text("published_at IS NOT NULL"),
                postgresql_concurrently=True,
                if_not_exists=True,
            )


def drop_retention_indexes_v1(*, outbox: bool) -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    with op.get_context().autocommit_block():
        op.drop_index("ix_inbox_received_at", "inbox", postgresql_concurrently=True)
        if outbox:
            op.drop_index("ix_outbox_published_at", "outbox", postgresql_concurrently=True)
