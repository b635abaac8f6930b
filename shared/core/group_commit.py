"""Group commit: concurrent requests to write are coalesced into one transaction.

Under load, many HTTP requests each wanting a short write transaction would queue for the
database one after another. Instead each request hands its command to the batcher and
waits; a single task applies whatever has queued up, in one unit of work, and answers
every request once that transaction has committed. Nothing is acknowledged before it is
durable, and a lone request is not held back: it forms a batch of one.

With a `linger`, a command that finds the committer idle is held back that long for
company: what arrives meanwhile commits with it. The service's consumers use it so that
the events of one order arriving through different queues a few milliseconds apart
commit in one transaction, one flush to disk instead of one each. A busy committer never
lingers: what queued while it committed goes at once; nor does it wait any longer once
`parties` commands are in hand (each consumer hands over one batch at a time: when every
one has, no one else can come).
"""

import asyncio
import contextvars
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from shared.core.uow import Transactions, UnitOfWork

log = logging.getLogger(__name__)

CommandT = TypeVar("CommandT")
ResultT = TypeVar("ResultT")
UowT = TypeVar("UowT", bound=UnitOfWork)


@dataclass
class _Pending(Generic[CommandT, ResultT]):
    command: CommandT
    future: asyncio.Future[ResultT] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    # The submitter's context (its request's trace, say): its command is applied in it.
    context: contextvars.Context = field(default_factory=contextvars.copy_context)


# Applies commands in order inside the unit of work; returns, for each, its result or the
# exception to raise to its caller (which does not abort the others).
BatchApply = Callable[[Sequence[CommandT], UowT], list[ResultT | Exception]]


class GroupCommit(Generic[CommandT, ResultT, UowT]):
    def __init__(
        self,
        transactions: Transactions[UowT],
        apply: BatchApply[CommandT, UowT, ResultT],
        *,
        max_batch: int = 256,
        retryable: tuple[type[Exception], ...] = (),
        linger: float = 0.0,
        parties: int | None = None,
    ) -> None:
        self._transactions = transactions
        self._apply = apply
        self._max_batch = max_batch
        self._retryable = retryable
        self._linger = linger
        self._parties = parties or max_batch
        self._arrived = asyncio.Event()
        self._queue: asyncio.Queue[_Pending[CommandT, ResultT]] = asyncio.Queue()
        self._in_hand: list[_Pending[CommandT, ResultT]] = []  # taken, not yet committed

    async def submit(self, command: CommandT) -> ResultT:
        """Apply `command` in the next transaction; return its result once committed."""
        pending: _Pending[CommandT, ResultT] = _Pending(command)
        self._queue.put_nowait(pending)
        self._arrived.set()
        return await pending.future

    async def run(self) -> None:
        """The committing task; runs until cancelled, then fails whatever still waits."""
        try:
            async for batch in self._batches():
                await self._commit(batch)
        finally:
            left = self._in_hand + [self._queue.get_nowait() for _ in range(self._queue.qsize())]
            for pending in left:
                if not pending.future.done():
                    pending.future.set_exception(RuntimeError("shutting down"))

    async def _batches(self) -> AsyncIterator[list[_Pending[CommandT, ResultT]]]:
        while True:
            idle = self._queue.empty()
            batch = self._in_hand = [await self._queue.get()]
            if idle and self._linger > 0:
                await self._company(len(batch))
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            yield [p for p in batch if not p.future.cancelled()]
            self._in_hand = []

    async def _company(self, in_hand: int) -> None:
        """Wait out the linger, or until `parties` commands are in hand or queued."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._linger
        while in_hand + self._queue.qsize() < self._parties:
            self._arrived.clear()
            try:
                async with asyncio.timeout_at(deadline):
                    await self._arrived.wait()
            except TimeoutError:
                return

    async def _commit(self, batch: list[_Pending[CommandT, ResultT]]) -> None:
        if not batch:
            return
        try:
            results = await self._transaction(batch)
        except Exception as exc:
            if len(batch) == 1:
                _settle(batch[0], exc)
                return
            # One command spoiled the transaction (a constraint another instance raced us
            # to, say): give each its own, so the others still commit.
            log.info("group commit of %d failed (%r); committing one by one", len(batch), exc)
            for pending in batch:
                await self._commit([pending])
            return
        for pending, result in zip(batch, results, strict=True):
            _settle(pending, result)

    async def _transaction(
        self, batch: list[_Pending[CommandT, ResultT]]
    ) -> list[ResultT | Exception]:
        def apply(uow: UowT) -> list[ResultT | Exception]:
            # One command at a time, each in its submitter's context, in one transaction:
            # what a command stages carries its own request's trace.
            results: list[ResultT | Exception] = []
            for pending in batch:
                results.extend(pending.context.run(self._apply, [pending.command], uow))
            return results

        for attempt in range(3):
            try:
                return await self._transactions(apply)
            except self._retryable:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


def _settle(pending: _Pending[CommandT, ResultT], result: ResultT | Exception) -> None:
    if pending.future.done():  # the caller went away (request cancelled)
        return
    if isinstance(result, Exception):
        pending.future.set_exception(result)
    else:
        pending.future.set_result(result)
