"""The moving parts of one service process, wired once and started in the app's lifespan:
database, broker connection, outbox relay, consumers and background workers."""

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, Generic, TypeVar, cast

from aio_pika.connection import make_url
from fastapi import APIRouter, FastAPI
from sqlalchemy import Connection, MetaData, Table

from shared.contract.events import SCHEMAS, EventSchemas
from shared.core.group_commit import GroupCommit
from shared.core.handlers import Subscription
from shared.core.uow import Transactions, UnitOfWork
from shared.messaging.broker import Broker
from shared.messaging.consumer import Consumer
from shared.messaging.dead_letters import DeadLetterDesk
from shared.messaging.outbox_relay import OutboxRelay
from shared.messaging.processing import BatchProcessor
from shared.messaging.queue_watch import watch_queues
from shared.persistence.database import Database
from shared.persistence.migrations import Migrations
from shared.persistence.outbox_store import OutboxStore
from shared.persistence.retention import Pruner, inbox_rule, outbox_rule
from shared.persistence.unit_of_work import SqlTransactions
from shared.process import keys
from shared.process.settings import ServiceSettings
from shared.telemetry.metrics import Metrics
from shared.telemetry.tracing import Tracing
from shared.web.app import create_service_app

log = logging.getLogger(__name__)

UowT = TypeVar("UowT", bound=UnitOfWork)


class Runtime(Generic[UowT]):
    def __init__(
        self,
        settings: ServiceSettings,
        schema: Migrations | MetaData,
        *,
        unit_of_work: Callable[[Connection], UowT],
        outbox: Table | None = None,
        subscriptions: Sequence[Subscription[UowT]] = (),
        schemas: EventSchemas = SCHEMAS,
        tracing: Tracing | None = None,
    ) -> None:
        self.settings = settings
        self.service = settings.service_name
        # A service's tables are made and changed by its migrations; bare tables (a sketch,
        # the new-subscriber recipe) are created when missing.
        self.schema = schema
        app_id = f"{self.service}-service"
        self.metrics = Metrics()
        self.tracing = tracing or Tracing(self.service)
        self.db = Database(
            settings.resolved_database_url, sqlite_synchronous=settings.sqlite_synchronous
        )
        self.broker = Broker(
            settings.amqp_url,
            name=app_id,
            retry_delays=settings.retry_delays,
            extra_queues=[s.queue for s in subscriptions],
            streams=settings.streams,
            declare_topology=settings.declare_topology,
            failover_hosts=settings.amqp_failover_hosts,
        )
        self.outbox: OutboxStore | None = None
        self.relay: OutboxRelay | None = None
        if outbox is not None:
            self.outbox = OutboxStore(self.db, outbox, lease_seconds=settings.outbox_lease_seconds)
            self.relay = OutboxRelay(
                self.outbox,
                self.broker,
                app_id=app_id,
                user_id=make_url(settings.amqp_url).user,
                batch_size=settings.outbox_batch_size,
                poll_interval=settings.outbox_poll_interval,
                lease_seconds=settings.outbox_lease_seconds,
                metrics=self.metrics,
                tracing=self.tracing,
            )
        # Inbox and outbox rows past their retention, deleted a small batch at a time.
        tables = schema.metadata.tables if isinstance(schema, Migrations) else schema.tables
        rules = [inbox_rule(settings.inbox_retention_seconds)] if "inbox" in tables else []
        if outbox is not None:
            rules.append(outbox_rule(settings.outbox_retention_seconds, outbox.name))
        self.pruner = Pruner(
            self.db,
            rules,
            batch_size=settings.prune_batch_size,
            pause=settings.prune_pause,
            interval=settings.retention_interval,
            metrics=self.metrics,
        )
        verifier = keys.verifier_for(settings)
        self.transactions: SqlTransactions[UowT] = SqlTransactions(
            self.db,
            unit_of_work,
            outbox=self.outbox,
            signer=keys.signer_for(settings) if outbox is not None else None,
            on_committed=self.relay.committed if self.relay is not None else None,
        )
        # Several consumers share one committer that lingers a moment when idle: what they
        # take within `consumer_linger_seconds` of each other (the events of one order
        # through different queues) commits in one transaction (shared.core.group_commit).
        self._shared: GroupCommit[Callable[[UowT], Any], Any, UowT] | None = None
        consumer_transactions: Transactions[UowT] = self.transactions
        if len(subscriptions) > 1 and settings.consumer_linger_seconds > 0:
            self._shared = GroupCommit(
                self.transactions,
                _each_in_turn,
                linger=settings.consumer_linger_seconds,
                parties=len(subscriptions),
            )
            # `submit(work)` answers what `work` returned: Transactions, for each work's type.
            consumer_transactions = cast(Transactions[UowT], self._shared.submit)
        self.consumers = [
            Consumer(
                BatchProcessor(
                    subscription,
                    service=app_id,
                    transactions=consumer_transactions,
                    schemas=schemas,
                    publisher=self.broker,
                    verifier=verifier,
                    retry_delays=settings.retry_delays,
                    metrics=self.metrics,
                    tracing=self.tracing,
                ),
                prefetch_count=settings.prefetch_count,
                batch_size=settings.consumer_batch_size,
            )
            for subscription in subscriptions
        ]
        self.dead_letters = DeadLetterDesk(
            self.broker.connected,
            [c.spec for c in self.consumers],
            is_ready=lambda: self.broker.is_ready,
        )
        self._background: list[Callable[[], Coroutine[Any, Any, None]]] = []
        self._readiness_checks: dict[str, Callable[[], bool]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._consumers_started = False

    def add_background(self, job: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run `job()` for the life of the process (started with the runtime)."""
        self._background.append(job)

    def add_readiness_check(self, name: str, check: Callable[[], bool]) -> None:
        """`GET /health/ready` is 503 unless `check()` is true (a worker the service cannot
        do without, such as a stream reader)."""
        self._readiness_checks[name] = check

    def create_app(
        self, routers: Sequence[APIRouter], *, title: str, state: dict[str, Any] | None = None
    ) -> FastAPI:
        """The service's HTTP app, with this runtime in its lifespan; `state` holds what
        the routes' narrow dependencies hand out."""
        return create_service_app(
            self,
            routers,
            title=title,
            admin_token=self.settings.admin_token,
            dead_letters=self.dead_letters,
            metrics=self.metrics,
            state=state,
            max_body_bytes=self.settings.max_body_bytes,
            tracer=self.tracing.tracer if self.tracing.enabled else None,
        )

    async def start(self) -> None:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, self._dump_state)
        await self.prepare_schema()
        self.broker.start()
        if self.relay is not None:
            self._spawn(self.relay.run(), "outbox-relay")
        if self._shared is not None:
            self._spawn(self._shared.run(), "consumer-commits")
        if self.consumers:
            self._spawn(self._start_consumers(), "start-consumers")
            watched = [n for c in self.consumers for n in (c.name, c.spec.dead_letter_queue)]
            self._spawn(
                watch_queues(
                    self.broker.connected,
                    watched,
                    self.metrics,
                    interval=self.settings.queue_watch_seconds,
                ),
                "queue-watch",
            )
        if self.pruner.rules:
            self._spawn(self.pruner.run(), "pruner")
        for job in self._background:
            self._spawn(job(), job.__qualname__)
        log.info("%s service started (database %s)", self.service, self.db.dialect)

    async def prepare_schema(self) -> None:
        """An empty database gets the schema through the migrations; one that is behind
        raises SchemaBehind, which says what to run (shared.persistence.migrations)."""
        if isinstance(self.schema, Migrations):
            await self.db.on_connection(self.schema.prepare)
        else:
            await self.db.create_all(self.schema)

    async def stop(self) -> None:
        for consumer in self.consumers:
            await consumer.stop()
        if self.relay is not None:
            await self.relay.drain(grace_seconds=5.0)
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            # Bounded: a task that swallowed its cancel must not hold the stop for ever.
            ended, stuck = await asyncio.wait(self._tasks, timeout=10.0)
            for task in ended:
                if not task.cancelled():
                    task.exception()  # retrieved: it was logged when it happened
            for task in stuck:
                log.error(
                    "%s: task %s did not stop when cancelled; it waits at:\n%s",
                    self.service,
                    task.get_name(),
                    _where(task),
                )
        await self.broker.close()
        await self.db.dispose()
        await asyncio.to_thread(self.tracing.shutdown)
        log.info("%s service stopped", self.service)

    async def readiness(self) -> dict[str, bool]:
        try:
            await asyncio.wait_for(self.db.ping(), timeout=2.0)
            database = True
        except Exception as exc:
            log.warning("readiness: database check failed: %r", exc)
            database = False
        checks = {"database": database, "broker": self.broker.is_ready}
        if self.consumers:
            checks["consumers"] = self._consumers_started and all(
                c.is_running for c in self.consumers
            )
        checks |= {name: check() for name, check in self._readiness_checks.items()}
        return checks

    async def _start_consumers(self) -> None:
        connection = await self.broker.connected()
        waiting = list(self.consumers)
        while waiting:
            try:
                await waiting[0].start(connection)
                waiting.pop(0)
            except Exception as exc:
                log.warning("starting consumer %s failed (%r); retrying", waiting[0].name, exc)
                await asyncio.sleep(1.0)
        self._consumers_started = True

    def _dump_state(self) -> None:
        """SIGUSR1: log the database pool and where every asyncio task is waiting, to
        diagnose a process that seems stuck."""
        log.warning("database pool: %s", self.db.pool_status())
        _dump_tasks()

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        task.add_done_callback(_report_crash)
        self._tasks.append(task)


def _dump_tasks() -> None:
    for task in asyncio.all_tasks():
        log.warning("task %s:\n%s", task.get_name(), _where(task))


def _where(task: asyncio.Task[Any]) -> str:
    """Where a task waits: each coroutine of its await chain, outermost first, then the task
    itself, whose repr names the future it waits for (`wait_for=`: an executor's, a
    protocol's). `Task.get_stack()` gives a suspended coroutine's own frame only."""
    frames: list[str] = []
    awaitable: Any = task.get_coro()
    while awaitable is not None and len(frames) < 40:
        frame = getattr(awaitable, "cr_frame", None) or getattr(awaitable, "gi_frame", None)
        if frame is None:
            break
        frames.append(f"  {frame.f_code.co_filename}:{frame.f_lineno} {frame.f_code.co_name}")
        awaitable = getattr(awaitable, "cr_await", None) or getattr(awaitable, "gi_yieldfrom", None)
    return "\n".join([*frames, f"  {task!r}"])


def _report_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.critical("background task %s died", task.get_name(), exc_info=task.exception())


def _each_in_turn(works: Sequence[Callable[[Any], Any]], uow: Any) -> list[Any]:
    """The consumers' batches handed to one transaction, applied in turn. One that raises
    fails the whole transaction, which GroupCommit then retries one batch at a time: a
    batch never commits beside another's half-done writes."""
    return [work(uow) for work in works]
