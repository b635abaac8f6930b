"""Dead-letter queues: look inside, replay, purge.

A dead-letter queue is read with basic.get and manual acks: a message leaves it only when
it is acknowledged, and it is acknowledged only after its replayed copy has been confirmed
by the broker (or, for a purge, when asked to). Everything else is returned to the queue.
A replayed message goes back to the work queue it failed in, with its retry count reset;
its event id is unchanged, so replaying it twice has one effect (the inbox dedupes).
"""

import base64
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractIncomingMessage

from shared.contract import headers as h
from shared.contract.topology import DELIVERY_LIMIT, QueueSpec
from shared.messaging.delivery import Outgoing, copy_of, publish_confirmed


@dataclass(frozen=True)
class DeadLetter:
    message_id: str | None
    event_type: str | None
    original_queue: str | None
    reason: str | None
    error_type: str | None
    attempts: int | None
    first_failure_at: str | None
    last_failure_at: str | None
    headers: dict[str, Any]
    body: bytes

    @classmethod
    def of(cls, message: AbstractIncomingMessage) -> "DeadLetter":
        headers = dict(message.headers or {})
        reason = headers.get(h.DEAD_LETTER_REASON) or headers.get(h.FIRST_DEATH_REASON)
        attempts = headers.get(h.ATTEMPTS, _broker_attempts(headers))
        return cls(
            message_id=message.message_id,
            event_type=message.type,
            original_queue=_text(headers.get(h.ORIGINAL_QUEUE) or headers.get(h.FIRST_DEATH_QUEUE)),
            reason=_text(reason),
            error_type=_text(headers.get(h.ERROR_TYPE)),
            attempts=attempts if isinstance(attempts, int) else None,
            first_failure_at=_text(headers.get(h.FIRST_FAILURE_AT)),
            last_failure_at=_text(headers.get(h.LAST_FAILURE_AT)),
            headers=headers,
            body=message.body,
        )

    def summary(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "type": self.event_type,
            "original_queue": self.original_queue,
            "reason": self.reason,
            "error_type": self.error_type,
            "attempts": self.attempts,
            "first_failure_at": self.first_failure_at,
            "last_failure_at": self.last_failure_at,
        }

    def detail(self) -> dict[str, Any]:
        try:
            body: dict[str, Any] = {"body": self.body.decode()}
        except UnicodeDecodeError:
            body = {"body_base64": base64.b64encode(self.body).decode()}
        return {**self.summary(), "headers": _jsonable(self.headers), **body}


@dataclass(frozen=True)
class Selection:
    """Which dead letters an operation applies to. An empty selection matches nothing:
    acting on everything must be asked for (`everything=True`)."""

    message_ids: frozenset[str] = field(default_factory=frozenset)
    event_type: str | None = None
    error_type: str | None = None
    reason_contains: str | None = None
    everything: bool = False

    @property
    def is_empty(self) -> bool:
        return not (
            self.message_ids
            or self.event_type
            or self.error_type
            or self.reason_contains
            or self.everything
        )

    def matches(self, letter: DeadLetter) -> bool:
        if self.is_empty:
            return False
        return (
            (not self.message_ids or letter.message_id in self.message_ids)
            and (self.event_type is None or letter.event_type == self.event_type)
            and (self.error_type is None or letter.error_type == self.error_type)
            and (
                self.reason_contains is None
                or self.reason_contains.lower() in (letter.reason or "").lower()
            )
        )


@dataclass(frozen=True)
class Outcome:
    matched: int
    done: int
    failed: list[str]
    scanned: int


class DeadLetterQueue:
    """The dead letters of one work queue."""

    def __init__(self, connection: AbstractConnection, spec: QueueSpec) -> None:
        self._connection = connection
        self.spec = spec

    async def peek(self, limit: int = 100) -> list[DeadLetter]:
        """The first `limit` dead letters, left in the queue."""
        channel = await self._connection.channel()
        try:
            messages = await _take(channel, self.spec.dead_letter_queue, limit)
            letters = [DeadLetter.of(m) for m in messages]
            await _return(messages)
            return letters
        finally:
            await channel.close()

    async def find(self, message_id: str, limit: int = 10_000) -> list[DeadLetter]:
        return [letter for letter in await self.peek(limit) if letter.message_id == message_id]

    async def replay(self, selection: Selection, limit: int = 10_000) -> Outcome:
        """Re-publish the selected dead letters to the queue they failed in; each leaves the
        dead-letter queue once the broker has confirmed its copy."""
        return await self._apply(selection, limit, replay=True)

    async def purge(self, selection: Selection, limit: int = 10_000) -> Outcome:
        """Delete the selected dead letters for good."""
        return await self._apply(selection, limit, replay=False)

    async def _apply(self, selection: Selection, limit: int, *, replay: bool) -> Outcome:
        channel = await self._connection.channel(publisher_confirms=True, on_return_raises=True)
        try:
            messages = await _take(channel, self.spec.dead_letter_queue, limit)
            chosen = [m for m in messages if selection.matches(DeadLetter.of(m))]
            done: list[AbstractIncomingMessage] = []
            failed: list[str] = []
            for message in chosen:
                try:
                    if replay:
                        await publish_confirmed(
                            await channel.get_underlay_channel(),
                            "",
                            _target_queue(message, self.spec.name),
                            _replayed_copy(message),
                        )
                    await message.ack()
                    done.append(message)
                except Exception as exc:
                    failed.append(f"{message.message_id}: {exc!r}")
            await _return([m for m in messages if m not in done])
            return Outcome(
                matched=len(chosen), done=len(done), failed=failed, scanned=len(messages)
            )
        finally:
            await channel.close()


async def _take(
    channel: AbstractChannel, queue_name: str, limit: int
) -> list[AbstractIncomingMessage]:
    queue = await channel.get_queue(queue_name, ensure=True)
    messages: list[AbstractIncomingMessage] = []
    while len(messages) < limit:
        message = await queue.get(no_ack=False, fail=False)
        if message is None:
            break
        messages.append(message)
    return messages


async def _return(messages: Iterable[AbstractIncomingMessage]) -> None:
    for message in messages:
        await message.nack(requeue=True)


def _target_queue(message: AbstractIncomingMessage, default: str) -> str:
    headers = message.headers or {}
    original = headers.get(h.ORIGINAL_QUEUE) or headers.get(h.FIRST_DEATH_QUEUE)
    return original if isinstance(original, str) and original else default


def _replayed_copy(message: AbstractIncomingMessage) -> Outgoing:
    headers = {k: v for k, v in (message.headers or {}).items() if k not in h.FAILURE}
    previous = (message.headers or {}).get(h.REPLAY_COUNT, 0)
    headers[h.REPLAY_COUNT] = (previous if isinstance(previous, int) else 0) + 1
    headers[h.REPLAYED_AT] = datetime.now(UTC).isoformat()
    return copy_of(message, headers)


def _broker_attempts(headers: dict[str, Any]) -> int | None:
    """The deliveries of a message the broker dead-lettered itself: one more than the work
    queue's delivery limit. Not its `x-delivery-count`, which counts the reads of the DLQ
    (and, on RabbitMQ 4, also the returns before it was dead-lettered, while 3.x resets it):
    a number that would differ by broker and grow with every listing."""
    broker_reason = _text(headers.get(h.FIRST_DEATH_REASON))
    return DELIVERY_LIMIT + 1 if broker_reason == "delivery_limit" else None


def _text(value: object) -> str | None:
    if value is None:
        return None
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if isinstance(value, datetime):
        return value.isoformat()
    return value


class UnknownQueue(LookupError):
    pass


class DeadLetterDesk:
    """The dead-letter queues of the work queues a service consumes, over its broker
    connection: what the admin API and the CLI act on."""

    def __init__(
        self,
        connected: Callable[[], Awaitable[AbstractConnection]],
        queues: Iterable[QueueSpec],
        *,
        is_ready: Callable[[], bool] = lambda: True,
    ) -> None:
        self._connected = connected
        self._is_ready = is_ready
        self.queues = {spec.name: spec for spec in queues}

    async def open(self, queue: str) -> DeadLetterQueue:
        spec = self.queues.get(queue)
        if spec is None:
            raise UnknownQueue(f"{queue} is not consumed here")
        if not self._is_ready():
            raise ConnectionError("broker unavailable")
        return DeadLetterQueue(await self._connected(), spec)
