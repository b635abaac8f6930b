from fastapi import FastAPI
from sqlalchemy.exc import IntegrityError

from order_service import handlers
from order_service.adapters import tables
from order_service.config import OrderSettings
from order_service.entrypoints.api.routes import orders
from shared import contracts
from shared.consumer import Subscription
from shared.group_commit import GroupCommit
from shared.http import create_service_app
from shared.runtime import Runtime
from shared.topology import ORDER_INVENTORY_EVENTS


def create_app(settings: OrderSettings | None = None) -> FastAPI:
    runtime = Runtime(
        settings or OrderSettings(),
        tables.metadata,
        inbox=tables.inbox,
        outbox=tables.outbox,
        subscriptions=[
            Subscription(
                ORDER_INVENTORY_EVENTS,
                {
                    contracts.STOCK_RESERVED: handlers.on_stock_outcome,
                    contracts.STOCK_REJECTED: handlers.on_stock_outcome,
                },
            )
        ],
    )
    # Orders placed concurrently are stored in one transaction (see shared.group_commit).
    intake: orders.Intake = GroupCommit(
        runtime.unit_of_work, handlers.place_orders, retryable=(IntegrityError,)
    )
    runtime.add_background(intake.run)
    app = create_service_app(runtime, [orders.router], title="Order service")
    app.state.intake = intake
    return app
