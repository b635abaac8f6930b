from fastapi import FastAPI

from inventory_service import handlers
from inventory_service.adapters import tables
from inventory_service.config import InventorySettings
from inventory_service.entrypoints.api.routes import stock
from shared import contracts
from shared.consumer import Subscription
from shared.http import create_service_app
from shared.runtime import Runtime
from shared.topology import INVENTORY_ORDER_EVENTS


def create_app(settings: InventorySettings | None = None) -> FastAPI:
    runtime = Runtime(
        settings or InventorySettings(),
        tables.metadata,
        inbox=tables.inbox,
        outbox=tables.outbox,
        subscriptions=[
            Subscription(INVENTORY_ORDER_EVENTS, {contracts.ORDER_PLACED: handlers.on_order_placed})
        ],
    )
    return create_service_app(runtime, [stock.router], title="Inventory service")
