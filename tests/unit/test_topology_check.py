"""`check`: where an operator declares the topology (compose), a service only looks for it,
passively, which needs no broker permission, and changes nothing."""

from typing import Any

from shared.contract.topology import EXCHANGES, QUEUES, STREAMS
from shared.messaging.declare import check


class PassiveOnlyChannel:
    def __init__(self) -> None:
        self.looked_up: list[tuple[str, str]] = []

    async def declare_exchange(self, name: str, *args: Any, **options: Any) -> str:
        assert options == {"passive": True} and not args, (name, args, options)
        self.looked_up.append(("exchange", name))
        return name

    async def declare_queue(self, name: str, *args: Any, **options: Any) -> str:
        assert options == {"passive": True} and not args, (name, args, options)
        self.looked_up.append(("queue", name))
        return name


async def test_check_looks_up_every_part_declare_makes_and_declares_nothing() -> None:
    channel = PassiveOnlyChannel()
    await check(channel, retry_delays=(1, 5))  # type: ignore[arg-type]
    exchanges = {*EXCHANGES, *(spec.dead_letter_exchange for spec in QUEUES)}
    queues = {
        name
        for spec in QUEUES
        for name in (spec.name, spec.dead_letter_queue, spec.retry_queue(1), spec.retry_queue(5))
    } | {stream.name for stream in STREAMS}
    assert sorted(channel.looked_up) == sorted(
        [("exchange", name) for name in exchanges] + [("queue", name) for name in queues]
    )
