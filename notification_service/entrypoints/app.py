from fastapi import FastAPI

from notification_service.adapters import tables
from notification_service.adapters.channels import (
    LoggingChannel,
    NotificationChannel,
    SmtpChannel,
)
from notification_service.adapters.dispatcher import Dispatcher
from notification_service.config import NotificationSettings
from notification_service.entrypoints.api.routes import notifications
from notification_service.handlers import build_handlers
from shared import contracts
from shared.consumer import Subscription
from shared.http import create_service_app
from shared.runtime import Runtime
from shared.topology import NOTIFICATION_INVENTORY_EVENTS, NOTIFICATION_ORDER_EVENTS


def channel_for(settings: NotificationSettings) -> NotificationChannel:
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
    )


def create_app(
    settings: NotificationSettings | None = None, channel: NotificationChannel | None = None
) -> FastAPI:
    settings = settings or NotificationSettings()
    handlers = build_handlers(lambda: dispatcher.wake())
    runtime = Runtime(
        settings,
        tables.metadata,
        inbox=tables.inbox,
        subscriptions=[
            Subscription(
                NOTIFICATION_ORDER_EVENTS,
                {contracts.ORDER_PLACED: handlers[contracts.ORDER_PLACED]},
            ),
            Subscription(
                NOTIFICATION_INVENTORY_EVENTS,
                {t: handlers[t] for t in (contracts.STOCK_RESERVED, contracts.STOCK_REJECTED)},
            ),
        ],
    )
    dispatcher = Dispatcher(
        runtime.db,
        channel or channel_for(settings),
        batch_size=settings.dispatch_batch_size,
        max_attempts=settings.dispatch_max_attempts,
        lease_seconds=settings.dispatch_lease_seconds,
        retry_base_seconds=settings.dispatch_retry_base_seconds,
    )
    runtime.add_background(dispatcher.run)
    return create_service_app(runtime, [notifications.router], title="Notification service")
