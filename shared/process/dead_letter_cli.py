"""Command line for dead letters: `python -m shared.process.dead_letter_cli --help`.

    python -m shared.process.dead_letter_cli COMMAND QUEUE [OPTIONS]

    list inventory.order-events
    show inventory.order-events <message-id>
    replay inventory.order-events --id <message-id> [--id ...]
    replay inventory.order-events --error-type OperationalError
    replay inventory.order-events --all
    purge inventory.order-events --reason "not valid JSON"

The broker comes from --amqp-url or AMQP_URL. Queues are named by their work queue.
"""

import argparse
import asyncio
import logging
import os
import sys
from typing import Any
from urllib.parse import urlsplit

import aio_pika
import orjson
from aiormq.exceptions import AMQPError, ChannelNotFoundEntity

from shared.contract.topology import QUEUES, QueueSpec
from shared.messaging.dead_letters import DeadLetterQueue, Selection


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m shared.process.dead_letter_cli",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--amqp-url", default=os.environ.get("AMQP_URL", "amqp://guest:guest@localhost:5672/")
    )
    parser.add_argument(
        "--timeout", type=float, default=10.0, help="seconds to wait for the broker"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="summaries of the first dead letters")
    listing.add_argument("queue")
    listing.add_argument("--limit", type=int, default=100)
    show = commands.add_parser("show", help="headers and body of a dead letter")
    show.add_argument("queue")
    show.add_argument("message_id")
    for name, text in (("replay", "send back to the work queue"), ("purge", "delete for good")):
        command = commands.add_parser(name, help=text)
        command.add_argument("queue")
        command.add_argument("--id", action="append", default=[], dest="ids")
        command.add_argument("--type", dest="event_type")
        command.add_argument("--error-type")
        command.add_argument("--reason", dest="reason_contains")
        command.add_argument("--all", action="store_true")
    return parser


def _spec(queue: str) -> QueueSpec:
    known = {spec.name: spec for spec in QUEUES}
    if queue in known:
        return known[queue]
    exchange = queue.split(".", 1)[0]  # a subscriber's own queue: the name is enough
    return QueueSpec(queue, exchange)


class Failed(Exception):
    """What went wrong, in one line for the user; the command exits with status 1."""


async def run(args: argparse.Namespace) -> Any:
    try:
        connection = await asyncio.wait_for(aio_pika.connect(args.amqp_url), args.timeout)
    except (OSError, TimeoutError, AMQPError) as exc:
        why = exc.args[-1] if exc.args else type(exc).__name__
        raise Failed(f"cannot reach the broker at {_where(args.amqp_url)}: {why}") from exc
    try:
        dlq = DeadLetterQueue(connection, _spec(args.queue))
        if args.command == "list":
            return [letter.summary() for letter in await dlq.peek(args.limit)]
        if args.command == "show":
            found = [letter.detail() for letter in await dlq.find(args.message_id)]
            if not found:
                raise Failed(f"no dead letter {args.message_id} in {dlq.spec.dead_letter_queue}")
            return found
        selection = Selection(
            message_ids=frozenset(args.ids),
            event_type=args.event_type,
            error_type=args.error_type,
            reason_contains=args.reason_contains,
            everything=args.all,
        )
        if selection.is_empty:
            raise Failed("select messages with --id, --type, --error-type, --reason or --all")
        outcome = await (
            dlq.replay(selection) if args.command == "replay" else dlq.purge(selection)
        )
        return vars(outcome)
    except ChannelNotFoundEntity as exc:
        raise Failed(
            f"no queue {_spec(args.queue).dead_letter_queue} on the broker "
            f"(is {args.queue!r} a work queue?)"
        ) from exc
    finally:
        await asyncio.gather(connection.close(), return_exceptions=True)


def _where(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or 5672}{parts.path or '/'}"


def main(argv: list[str] | None = None) -> int:
    # aiormq logs each failed connection attempt; the one line below says it once.
    logging.getLogger("aiormq").setLevel(logging.CRITICAL)
    logging.getLogger("aio_pika").setLevel(logging.CRITICAL)
    try:
        result = asyncio.run(run(_parser().parse_args(argv)))
    except Failed as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    sys.stdout.write(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode() + "\n")
    return 1 if isinstance(result, dict) and result.get("failed") else 0


if __name__ == "__main__":
    sys.exit(main())
