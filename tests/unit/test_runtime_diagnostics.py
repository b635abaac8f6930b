"""Where a task waits, as the runtime logs it for a task that holds up a stop (and for every
task on SIGUSR1): the whole await chain and the future at its end, not the one frame that
`Task.get_stack()` gives for a suspended coroutine."""

import asyncio

from shared.process.runtime import _where


async def test_where_a_task_waits_names_its_await_chain_and_the_future_at_its_end() -> None:
    gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def marking() -> None:
        await gate

    async def dispatching() -> None:
        await marking()

    task = asyncio.create_task(dispatching(), name="dispatcher")
    await asyncio.sleep(0)
    *chain, last = _where(task).splitlines()
    gate.set_result(None)
    await task

    assert [line.split()[-1] for line in chain] == ["dispatching", "marking"]
    assert chain[0].strip().startswith(__file__)
    assert "name='dispatcher'" in last and "wait_for=<Future pending" in last
