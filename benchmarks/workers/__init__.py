"""Worker processes of a benchmark run (`python -m benchmarks.workers.<name> ...`): each
does one job, says `READY` on stdout once it can be measured, and writes its result as JSON
to the file named by `--out`."""

import argparse
from pathlib import Path
from typing import Any

import orjson

READY = "READY"


def ready() -> None:
    print(READY, flush=True)


def write_result(path: Path, result: dict[str, Any]) -> None:
    path.write_bytes(orjson.dumps(result))


def base_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out", type=Path, required=True, help="where to write the result")
    return parser


def amqp_parser(description: str) -> argparse.ArgumentParser:
    parser = base_parser(description)
    parser.add_argument("--url", required=True, help="AMQP URL, vhost included")
    parser.add_argument("--queue", required=True)
    parser.add_argument("--count", type=int, required=True, help="messages to take")
    parser.add_argument("--prefetch", type=int, default=256)
    parser.add_argument("--timeout", type=float, default=300.0)
    return parser


def read_result(path: Path) -> dict[str, Any]:
    result: dict[str, Any] = orjson.loads(path.read_bytes())
    return result
