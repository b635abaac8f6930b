"""The index that inbox pruning reads by on PostgreSQL, built concurrently; none on SQLite
(shared.persistence.migration_ops).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from shared.persistence.migration_ops import (
    create_retention_indexes_v1,
    drop_retention_indexes_v1,
)

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_retention_indexes_v1(outbox=False)


def downgrade() -> None:
    drop_retention_indexes_v1(outbox=False)
