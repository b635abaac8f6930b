"""The loop behind the outbox relay and the notification sender ends when its task is
cancelled, whatever it was doing: a loop that outlived the cancel would hold up the
service's stop for ever (it waits for its tasks)."""

import asyncio

import pytest

from shared.messaging.poll_loop import poll_loop


async def test_a_cancel_that_comes_as_the_wake_up_is_set_ends_the_loop() -> None:
    steps = 0

    async def step() -> None:
        nonlocal steps
        steps += 1

    wakeup = asyncio.Event()
    task = asyncio.create_task(poll_loop(step, wakeup, 60.0, "test loop"))
    await asyncio.sleep(0)  # the loop is waiting for its wake-up
    wakeup.set()
    task.cancel()  # in the same turn of the event loop: the race Python 3.11's wait_for lost
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 2.0)
    assert steps == 0


async def test_a_step_that_fails_is_tried_again_and_a_wake_up_runs_it_at_once() -> None:
    calls: list[int] = []
    done = asyncio.Event()

    async def step() -> None:
        calls.append(len(calls))
        if len(calls) == 1:
            raise RuntimeError("the first try fails")
        done.set()

    wakeup = asyncio.Event()
    task = asyncio.create_task(poll_loop(step, wakeup, 0.01, "test loop"))
    try:
        await asyncio.wait_for(done.wait(), 2.0)
    finally:
        task.cancel()
    assert calls == [0, 1]


async def test_without_wake_ups_the_step_runs_every_interval_until_the_loop_ends() -> None:
    steps = 0
    three = asyncio.Event()

    async def step() -> None:
        nonlocal steps
        steps += 1
        if steps == 3:
            three.set()

    wakeup = asyncio.Event()
    task = asyncio.create_task(poll_loop(step, wakeup, 0.02, "test loop"))
    try:
        await asyncio.wait_for(three.wait(), 2.0)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    wakeup.clear()
    await asyncio.sleep(0.1)
    # Its timer went with it: nothing sets the wake-up of a loop that has ended.
    assert not wakeup.is_set()
