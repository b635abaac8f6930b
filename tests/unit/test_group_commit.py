"""Group commit with a linger (shared.core.group_commit): what arrives while an idle
committer lingers commits in one transaction, a busy committer never lingers, a command
that fails never takes the others down with it, and nothing handed over is left
unanswered when the committer stops."""

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from shared.core.group_commit import GroupCommit
from shared.core.uow import UnitOfWork


class Recorder:
    """Transactions that record which commands each one applied; `gate`, when set, holds
    every transaction until it is opened."""

    def __init__(self) -> None:
        self.transactions: list[list[str]] = []
        self.gate: asyncio.Event | None = None

    async def __call__(self, work: Callable[[UnitOfWork], Any]) -> Any:
        if self.gate is not None:
            await self.gate.wait()
        uow = UnitOfWork()
        applied: list[str] = []
        uow.applied = applied  # type: ignore[attr-defined]
        result = work(uow)  # raises: nothing recorded, as a rollback
        self.transactions.append(applied)
        return result


def apply(commands: Sequence[str], uow: UnitOfWork) -> list[str | Exception]:
    for command in commands:
        if command.startswith("bad"):
            raise ValueError(command)
        uow.applied.append(command)  # type: ignore[attr-defined]
    return [f"done {command}" for command in commands]


async def running(group: GroupCommit[str, str, UnitOfWork]) -> asyncio.Task[None]:
    task = asyncio.create_task(group.run())
    await asyncio.sleep(0)
    return task


async def a_then_b(group: GroupCommit[str, str, UnitOfWork], gap: float) -> list[str]:
    """Submit "a", then "b" `gap` seconds later; their answers."""
    first = asyncio.create_task(group.submit("a"))
    await asyncio.sleep(gap)
    second = asyncio.create_task(group.submit("b"))
    return list(await asyncio.wait_for(asyncio.gather(first, second), 5))


async def test_what_arrives_while_an_idle_committer_lingers_commits_in_one_transaction() -> None:
    recorder = Recorder()
    group = GroupCommit(recorder, apply, linger=0.2)
    committer = await running(group)
    try:
        assert await a_then_b(group, 0.02) == ["done a", "done b"]
    finally:
        committer.cancel()
    assert recorder.transactions == [["a", "b"]]


async def test_once_every_party_has_handed_over_the_committer_lingers_no_longer() -> None:
    recorder = Recorder()
    group = GroupCommit(recorder, apply, linger=10.0, parties=2)
    committer = await running(group)
    loop = asyncio.get_running_loop()
    try:
        started = loop.time()
        assert await a_then_b(group, 0.05) == ["done a", "done b"]
        waited = loop.time() - started
    finally:
        committer.cancel()
    assert recorder.transactions == [["a", "b"]]
    assert waited < 5  # not the linger's 10 s: both parties were in


async def test_without_a_linger_a_lone_command_commits_at_once_on_its_own() -> None:
    recorder = Recorder()
    group = GroupCommit(recorder, apply)
    committer = await running(group)
    try:
        assert await asyncio.wait_for(group.submit("a"), 5) == "done a"
        assert await asyncio.wait_for(group.submit("b"), 5) == "done b"
    finally:
        committer.cancel()
    assert recorder.transactions == [["a"], ["b"]]


async def test_a_lone_command_waits_out_the_linger_then_commits_alone() -> None:
    recorder = Recorder()
    group = GroupCommit(recorder, apply, linger=0.1)
    committer = await running(group)
    loop = asyncio.get_running_loop()
    try:
        started = loop.time()
        assert await asyncio.wait_for(group.submit("a"), 5) == "done a"
        waited = loop.time() - started
    finally:
        committer.cancel()
    assert recorder.transactions == [["a"]]
    assert waited >= 0.09  # the loop's clock may fire a timer a hair early


async def test_what_queues_while_the_committer_is_busy_goes_at_once_without_lingering() -> None:
    recorder = Recorder()
    recorder.gate = asyncio.Event()
    group = GroupCommit(recorder, apply, linger=1.0)
    committer = await running(group)
    loop = asyncio.get_running_loop()
    try:
        first = asyncio.create_task(group.submit("a"))
        await asyncio.sleep(1.1)  # past its linger: "a" is in its transaction, held
        later = [asyncio.create_task(group.submit(c)) for c in ("b", "c")]
        await asyncio.sleep(0)
        recorder.gate.set()
        released = loop.time()
        done = await asyncio.wait_for(asyncio.gather(first, *later), 5)
        waited = loop.time() - released
    finally:
        committer.cancel()
    assert done == ["done a", "done b", "done c"]
    assert recorder.transactions == [["a"], ["b", "c"]]
    assert waited < 0.5  # a linger would have held "b" and "c" a whole second


async def test_a_command_that_fails_fails_alone_and_the_others_commit() -> None:
    recorder = Recorder()
    group = GroupCommit(recorder, apply, linger=0.1)
    committer = await running(group)
    try:
        results = await asyncio.wait_for(
            asyncio.gather(
                group.submit("a"), group.submit("bad b"), group.submit("c"), return_exceptions=True
            ),
            5,
        )
    finally:
        committer.cancel()
    assert results[0] == "done a" and results[2] == "done c"
    assert isinstance(results[1], ValueError)
    # The shared transaction rolled back; each was then tried in one of its own.
    assert recorder.transactions == [["a"], ["c"]]


async def test_a_command_held_by_a_lingering_committer_that_stops_is_answered() -> None:
    recorder = Recorder()
    group = GroupCommit(recorder, apply, linger=10.0)
    committer = await running(group)
    held = asyncio.create_task(group.submit("a"))
    await asyncio.sleep(0.05)  # taken, lingering
    committer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await committer
    with pytest.raises(RuntimeError, match="shutting down"):
        await asyncio.wait_for(held, 5)
    assert recorder.transactions == []
