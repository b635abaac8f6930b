import asyncio
import logging

from fastapi import FastAPI

from audit_service.adapters.broker_health import BrokerWatch
from audit_service.adapters.followups import FollowUps
from audit_service.adapters.health_watch import HealthWatch
from audit_service.adapters.indexer import Indexer
from audit_service.adapters.migrations import MIGRATIONS
from audit_service.adapters.services import Services
from audit_service.adapters.unit_of_work import SqlAuditUnitOfWork
from audit_service.adapters.views import AuditViews
from audit_service.config import AuditSettings
from audit_service.domain.model import IndexedEvent
from audit_service.entrypoints.api.routes import events, page
from audit_service.entrypoints.live import Board, closing_on_exit_signals
from audit_service.entrypoints.render import Links
from shared.contract.events import SCHEMAS
from shared.contract.topology import QUEUES
from shared.messaging.stream_consumer import StreamReader
from shared.process import keys
from shared.process.runtime import Runtime


def create_app(settings: AuditSettings | None = None) -> FastAPI:
    settings = settings or AuditSettings()
    # A line per request to the other services, several a second while orders are followed.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    runtime = Runtime(settings, MIGRATIONS, unit_of_work=SqlAuditUnitOfWork)
    (stream,) = settings.streams
    views = AuditViews(runtime.db)
    links = Links(jaeger_ui_url=settings.jaeger_ui_url)
    board = Board(views, links)
    services = Services(
        order_url=settings.order_service_url,
        notification_url=settings.notification_service_url,
        urls={
            "order": settings.order_service_url,
            "inventory": settings.inventory_service_url,
            "notification": settings.notification_service_url,
        },
        admin_token=settings.services_admin_token,
        timeout=settings.http_client_timeout,
    )
    follow_ups = FollowUps(
        runtime.db,
        services,
        window_seconds=settings.follow_up_seconds,
        interval=settings.follow_up_interval,
        on_changed=board.orders_changed,
    )

    def indexed(rows: list[IndexedEvent]) -> None:
        board.indexed(rows)
        follow_ups.watch(rows)

    indexer = Indexer(
        runtime.db,
        runtime.transactions,
        verifier=keys.verifier_for(settings),
        schemas=SCHEMAS,
        registry=runtime.metrics.registry,
        on_indexed=indexed,
    )
    reader = StreamReader(
        settings.amqp_urls,
        stream,
        indexer.record,
        indexer.resume_from,
        name=f"audit-service-stream-reader@{settings.http_port}",
        prefetch_count=settings.prefetch_count,
        batch_size=settings.consumer_batch_size,
    )
    broker_watch = BrokerWatch(
        settings.amqp_url,
        runtime.broker.connected,
        QUEUES,
        stream,
        settings.retry_delays,
        management_url=settings.rabbitmq_management_url,
        username=settings.rabbitmq_management_username,
        password=settings.rabbitmq_management_password,
        timeout=settings.http_client_timeout,
    )
    health = HealthWatch(
        runtime.db,
        broker_watch,
        services,
        interval=settings.health_interval,
        on_health=board.health_changed,
        on_changed=board.orders_changed,
    )

    async def read_stream() -> None:
        # Only once the topology is declared (or checked): the stream is there to read.
        await runtime.broker.connected()
        await reader.run()

    async def close_clients() -> None:
        try:
            await _forever()
        finally:
            await services.close()
            await broker_watch.close()

    runtime.add_background(read_stream)
    runtime.add_background(board.run)
    runtime.add_background(follow_ups.run)
    runtime.add_background(health.run)
    runtime.add_background(close_clients)
    runtime.add_background(closing_on_exit_signals(board))
    runtime.add_readiness_check("stream", lambda: reader.is_running)
    app = runtime.create_app(
        [events.router, page.router],
        title="Audit service",
        state={
            "audit_views": views,
            "board": board,
            "health_watch": health,
            "services": services,
            "links": links,
            "page_orders": settings.page_orders,
            "stream_reader": reader,
        },
    )
    return app


async def _forever() -> None:
    await asyncio.Event().wait()
