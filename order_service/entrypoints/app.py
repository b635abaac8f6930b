import functools

from fastapi import FastAPI
from sqlalchemy.exc import IntegrityError

from order_service import handlers
from order_service.adapters import tables
from order_service.adapters.migrations import MIGRATIONS
from order_service.adapters.unit_of_work import SqlOrderUnitOfWork
from order_service.adapters.views import OrderViews
from order_service.config import OrderSettings
from order_service.domain.pricing import PriceList
from order_service.entrypoints.api.routes import orders
from order_service.entrypoints.deps import Intake
from shared.contract.topology import ORDER_INVENTORY_EVENTS
from shared.core.group_commit import GroupCommit
from shared.core.handlers import Subscription
from shared.process.runtime import Runtime
from shared.web.schema_routes import schema_router


def create_app(settings: OrderSettings | None = None) -> FastAPI:
    settings = settings or OrderSettings()
    runtime = Runtime(
        settings,
        MIGRATIONS,
        unit_of_work=SqlOrderUnitOfWork,
        outbox=tables.outbox,
        subscriptions=[Subscription.of(ORDER_INVENTORY_EVENTS, handlers.HANDLERS)],
    )
    # A race on an Idempotency-Key with another instance is retried: the key is then known.
    intake: Intake = GroupCommit(
        runtime.transactions,
        functools.partial(handlers.place_orders, publish_version=settings.order_placed_version),
        retryable=(IntegrityError,),
    )
    runtime.add_background(intake.run)
    return runtime.create_app(
        [orders.router, schema_router("order")],
        title="Order service",
        state={
            "intake": intake,
            "order_views": OrderViews(runtime.db),
            "price_list": PriceList.parse(settings.currency, settings.prices),
        },
    )
