"""The stream reader against a real stream: it starts at the offset its sink recorded (the
first when none), hands every message over once and in order, and after a failure of its
sink (a database outage) reads again from the last offset recorded, skipping nothing."""

import asyncio
from collections.abc import Sequence

import aio_pika

from shared.contract.topology import AUDIT_STREAM
from shared.messaging.declare import declare
from shared.messaging.stream_consumer import StreamMessage, StreamReader
from tests.support.polling import eventually


class Recorder:
    """A sink that keeps what it recorded and its offset, as a database would, and fails
    the batches it is told to."""

    def __init__(self, fail_first: int = 0) -> None:
        self.bodies: list[bytes] = []
        self.last: int | None = None
        self.failures_left = fail_first
        self.batches = 0

    async def record(self, messages: Sequence[StreamMessage]) -> None:
        self.batches += 1
        if self.failures_left:
            self.failures_left -= 1
            raise ConnectionError("the database is away")
        assert self.last is None or messages[0].offset == self.last + 1, "a gap or a repeat"
        self.bodies += [m.body for m in messages]
        self.last = messages[-1].offset

    async def resume_from(self) -> int | None:
        return None if self.last is None else self.last + 1


async def publish(url: str, bodies: Sequence[bytes]) -> None:
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        await declare(channel, retry_delays=())
        exchange = await channel.get_exchange(AUDIT_STREAM.exchanges[0], ensure=False)
        for body in bodies:
            await exchange.publish(aio_pika.Message(body), routing_key="")


async def reading(reader: StreamReader, recorder: Recorder, count: int) -> None:
    task = asyncio.create_task(reader.run())
    try:
        await eventually(
            lambda: len(recorder.bodies), lambda n: n >= count, what=f"{count} recorded"
        )
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_the_reader_starts_at_the_recorded_offset_and_survives_its_sink_failing(
    broker_url: str,
) -> None:
    bodies = [f"event-{n}".encode() for n in range(50)]
    await publish(broker_url, bodies[:30])
    recorder = Recorder(fail_first=2)
    reader = StreamReader(
        broker_url,
        AUDIT_STREAM,
        recorder.record,
        recorder.resume_from,
        prefetch_count=10,
        batch_size=7,
        retry_seconds=0.1,
    )
    await reading(reader, recorder, 30)
    assert recorder.bodies == bodies[:30], "from the first offset, each once, in order"
    assert recorder.batches > 30 // 7, "in batches, two of which failed and were read again"

    # Started again (a new process, say): from the offset after the last one recorded.
    await publish(broker_url, bodies[30:])
    reader = StreamReader(broker_url, AUDIT_STREAM, recorder.record, recorder.resume_from)
    await reading(reader, recorder, 50)
    assert recorder.bodies == bodies
    assert recorder.last == 49
