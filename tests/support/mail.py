"""A mail server for tests (aiosmtpd, in this process): what the notification service sends."""

import email
import email.message
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiosmtpd.controller import Controller

from tests.support.processes import free_port


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[email.message.Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"

    def for_order(self, order_id: str) -> list[email.message.Message]:
        return [m for m in self.messages if m["X-Order-Id"] == order_id]


@contextmanager
def mail_server() -> Iterator[tuple[int, Mailbox]]:
    """(its port, what it received)."""
    port, box = free_port(), Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, box
    finally:
        controller.stop()
