"""Where notifications go. A channel delivers one message or raises; the dispatcher
decides about retries."""

import logging
from typing import Protocol

from notification_service.domain.model import Notification

log = logging.getLogger(__name__)


class NotificationChannel(Protocol):
    async def send(self, notification: Notification) -> None: ...


class LoggingChannel:
    """Writes each notification to the log: the default, needing nothing configured."""

    async def send(self, notification: Notification) -> None:
        log.info(
            "notification %s to %s: %s",
            notification.kind,
            notification.recipient,
            notification.subject,
            extra={"order_id": str(notification.order_id), "notification_id": str(notification.id)},
        )
