"""The order service as it was in the release before its orders had a currency (the schema
at revision 0001, before OrderPlaced v2): the same service, except that its tables, its SQL
and its migrations know no `currency` column (what an old deployment is while its database
is migrated and the new release rolls out).

    python -m tests.e2e.pre_currency_order_service
"""

import shutil
import tempfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from order_service.adapters import repository, tables
from order_service.adapters.migrations import MIGRATIONS
from order_service.config import OrderSettings
from order_service.domain.model import Order
from order_service.entrypoints.app import create_app
from shared.process.serve import serve


def forget_the_currency() -> None:
    tables.orders._columns.remove(tables.orders.c.currency)
    # Reads name no currency (NULL in its place); writes leave it out.
    repository._COLUMNS = repository._COLUMNS.replace(", currency", ", NULL")
    from_row: Any = repository._from_row
    repository._from_row = lambda row: from_row(SimpleNamespace(**row._mapping, currency=None))

    def add_many(self: Any, new: list[Order]) -> None:
        sql = self._sql
        sql.executemany(
            "INSERT INTO orders (id, customer_id, email, items, status, rejection_reason, "
            "created_at, updated_at, idempotency_key, request_hash) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    sql.uuid(o.id),
                    o.customer_id,
                    o.email,
                    sql.json([repository._line_row(line) for line in o.items]),
                    o.status.value,
                    o.rejection_reason,
                    sql.time(o.created_at),
                    sql.time(o.updated_at or o.created_at),
                    o.idempotency_key,
                    o.request_hash,
                )
                for o in new
            ],
        )

    setattr(repository.SqlOrderRepository, "add_many", add_many)  # noqa: B010
    # Its migrations ended at the baseline.
    versions = Path(tempfile.mkdtemp(prefix="pre-currency-migrations-"))
    shutil.copy(MIGRATIONS.versions / "m0001_baseline.py", versions)
    MIGRATIONS.versions = versions


if __name__ == "__main__":
    forget_the_currency()
    serve(OrderSettings(), create_app)
