"""Where notifications go. A channel delivers one message or raises: `Undeliverable` when
no retry can help, anything else to be retried by the dispatcher."""

import logging
from email.message import EmailMessage
from email.utils import formatdate
from typing import Protocol

import aiosmtplib

from notification_service.domain.model import Notification
from shared.telemetry.tracing import SpanKind, Tracing

log = logging.getLogger(__name__)


class Undeliverable(Exception):
    """This notification cannot go through this channel at all (say, no e-mail address)."""


class NotificationChannel(Protocol):
    name: str  # for metrics and spans
    # Whether each message must be marked sent the moment it is accepted (a slow channel
    # with real side effects, whose send a stop lets finish rather than cut off), or may
    # be marked with the rest of its batch.
    marks_each_send: bool

    async def send(self, notification: Notification) -> None: ...


class LoggingChannel:
    """Writes each notification to the log: the default, needing nothing configured."""

    marks_each_send = False
    name = "log"

    async def send(self, notification: Notification) -> None:
        log.info(
            "notification %s to %s: %s",
            notification.kind,
            notification.recipient,
            notification.subject,
            extra={"order_id": str(notification.order_id), "notification_id": str(notification.id)},
        )


class SmtpChannel:
    """E-mail over SMTP. Every notification has one Message-ID, derived from its id, on
    every attempt: if a process dies after the server accepted a message but before the
    notification was marked sent, the retry carries the same Message-ID, which mail
    systems use to drop the duplicate. Each message is marked sent as soon as the server
    accepts it, to keep that window as short as it can be."""

    marks_each_send = True
    name = "smtp"

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        *,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        timeout: float = 10.0,
        tracing: Tracing | None = None,
    ) -> None:
        self._tracer = (tracing or Tracing("notification")).tracer
        self._host, self._port, self._sender = host, port, sender
        self._username, self._password = username, password
        self._starttls = starttls
        self._timeout = timeout
        self._domain = sender.rpartition("@")[2] or "localhost"

    def message_id(self, notification: Notification) -> str:
        return f"<{notification.id}@{self._domain}>"

    async def send(self, notification: Notification) -> None:
        # The order's e-mail field, never the recipient label: "customer:<id>" would be
        # read as an address group if the customer id happened to contain an "@".
        if not notification.email:
            raise Undeliverable(f"no e-mail address for {notification.recipient!r}")
        message = EmailMessage()
        message["From"] = self._sender
        message["To"] = notification.email
        message["Subject"] = notification.subject
        message["Message-ID"] = self.message_id(notification)
        message["Date"] = formatdate(localtime=False)
        message["X-Order-Id"] = str(notification.order_id)
        message.set_content(notification.body)
        with self._tracer.start_as_current_span(
            "smtp send",
            kind=SpanKind.CLIENT,
            attributes={
                "server.address": self._host,
                "server.port": self._port,
                "email.message_id": message["Message-ID"],
            },
        ):
            await aiosmtplib.send(
                message,
                hostname=self._host,
                port=self._port,
                username=self._username,
                password=self._password,
                start_tls=self._starttls,
                timeout=self._timeout,
            )
