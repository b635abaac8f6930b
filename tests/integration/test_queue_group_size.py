"""Every quorum queue names its replicas' group size (x-quorum-initial-group-size 3: three
members on a cluster of three, one on a one-node broker); queues made before it was named,
which a broker would refuse to declare again with it, are declared as they were made."""

import aio_pika

from shared.contract.topology import QUEUES
from shared.messaging.declare import GROUP_SIZE, check, declare


async def test_the_topology_declares_on_one_node_and_over_queues_made_without_a_group_size(
    broker_url: str,
) -> None:
    connection = await aio_pika.connect_robust(broker_url)
    async with connection:
        channel = await connection.channel()
        made_before = QUEUES[:2]
        for spec in made_before:
            for name, arguments in (
                (spec.name, spec.arguments()),
                (spec.dead_letter_queue, spec.dead_letter_arguments()),
                (spec.retry_queue(1.0), spec.retry_arguments(1.0)),
            ):
                arguments.pop(GROUP_SIZE)
                await channel.declare_queue(name, durable=True, arguments=arguments)
        await declare(channel, retry_delays=(1.0,))
        await declare(channel, retry_delays=(1.0,))  # and again, as at every (re)connection
        await check(channel, retry_delays=(1.0,))
        assert all(spec.arguments()[GROUP_SIZE] == 3 for spec in QUEUES)
