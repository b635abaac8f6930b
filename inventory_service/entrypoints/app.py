from fastapi import FastAPI

from inventory_service import handlers
from inventory_service.adapters import tables
from inventory_service.adapters.migrations import MIGRATIONS
from inventory_service.adapters.unit_of_work import SqlInventoryUnitOfWork
from inventory_service.adapters.views import StockViews
from inventory_service.config import InventorySettings
from inventory_service.entrypoints.api.routes import stock
from shared.contract.topology import INVENTORY_ORDER_EVENTS
from shared.core.handlers import Subscription
from shared.process.runtime import Runtime
from shared.web.schema_routes import schema_router


def create_app(settings: InventorySettings | None = None) -> FastAPI:
    runtime = Runtime(
        settings or InventorySettings(),
        MIGRATIONS,
        unit_of_work=SqlInventoryUnitOfWork,
        outbox=tables.outbox,
        subscriptions=[Subscription.of(INVENTORY_ORDER_EVENTS, handlers.HANDLERS)],
    )
    return runtime.create_app(
        [stock.router, schema_router("inventory")],
        title="Inventory service",
        state={"stock_views": StockViews(runtime.db), "transactions": runtime.transactions},
    )
