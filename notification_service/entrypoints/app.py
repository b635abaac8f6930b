from fastapi import FastAPI
from sqlalchemy import Connection

from notification_service import handlers
from notification_service.adapters.channels import (
    LoggingChannel,
    NotificationChannel,
    SmtpChannel,
)
from notification_service.adapters.dispatcher import Dispatcher
from notification_service.adapters.migrations import MIGRATIONS
from notification_service.adapters.unit_of_work import SqlNotificationUnitOfWork
from notification_service.adapters.views import NotificationViews
from notification_service.config import NotificationSettings
from notification_service.entrypoints.api.routes import notifications
from shared.contract.topology import NOTIFICATION_INVENTORY_EVENTS, NOTIFICATION_ORDER_EVENTS
from shared.core.handlers import Subscription
from shared.process.runtime import Runtime
from shared.telemetry.tracing import Tracing


def channel_for(
    settings: NotificationSettings, tracing: Tracing | None = None
) -> NotificationChannel:
    if not settings.smtp_host:
        return LoggingChannel()
    return SmtpChannel(
        settings.smtp_host,
        settings.smtp_port,
        settings.smtp_from,
        username=settings.smtp_username,
        password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
        starttls=settings.smtp_starttls,
        timeout=settings.smtp_timeout,
        tracing=tracing,
    )


def create_app(
    settings: NotificationSettings | None = None, channel: NotificationChannel | None = None
) -> FastAPI:
    settings = settings or NotificationSettings()

    def unit_of_work(conn: Connection) -> SqlNotificationUnitOfWork:
        return SqlNotificationUnitOfWork(
            conn,
            hand_to_sender=dispatcher.accept,
            lease_seconds=settings.dispatch_lease_seconds,
        )

    runtime = Runtime(
        settings,
        MIGRATIONS,
        unit_of_work=unit_of_work,
        subscriptions=[
            Subscription.of(NOTIFICATION_ORDER_EVENTS, handlers.ORDER_EVENT_HANDLERS),
            Subscription.of(NOTIFICATION_INVENTORY_EVENTS, handlers.INVENTORY_EVENT_HANDLERS),
        ],
    )
    dispatcher = Dispatcher(
        runtime.db,
        channel or channel_for(settings, runtime.tracing),
        batch_size=settings.dispatch_batch_size,
        max_attempts=settings.dispatch_max_attempts,
        lease_seconds=settings.dispatch_lease_seconds,
        retry_base_seconds=settings.dispatch_retry_base_seconds,
        metrics=runtime.metrics,
        tracing=runtime.tracing,
    )
    runtime.add_background(dispatcher.run)
    return runtime.create_app(
        [notifications.router],
        title="Notification service",
        state={"notification_views": NotificationViews(runtime.db)},
    )
