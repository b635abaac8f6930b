"""Optional: py-spy on a service while a phase runs (`--py-spy PATH`), summarised as the
functions and packages where the process spends its CPU. Sampling perturbs the numbers a
little: compare profiled runs with profiled runs. Only the thread holding the interpreter
is sampled (`--gil`): without it, a commit waiting for its fsync (the GIL released)
counted as busy, a fifth of the order service's samples at 50 orders/s."""

import asyncio
import contextlib
import re
import signal
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

PROFILES: dict[str, dict[str, Any]] = {}
# "thread (1234): Thread-7 (_connection_worker_thread)" -> "_connection_worker_thread"
_THREAD = re.compile(r"^thread \(\d+\)(: )?(Thread-\d+ )?")
_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")
# Where a frame's file lives, checked in order: the first match names its package.
_PACKAGES = (
    ("sqlalchemy", "sqlalchemy"),
    ("aiosqlite", "aiosqlite + sqlite3"),
    ("sqlite3", "aiosqlite + sqlite3"),
    ("psycopg", "psycopg"),
    ("aio_pika", "aio-pika/aiormq/pamqp"),
    ("aiormq", "aio-pika/aiormq/pamqp"),
    ("pamqp", "aio-pika/aiormq/pamqp"),
    ("pydantic", "pydantic"),
    ("fastapi", "fastapi/starlette/uvicorn"),
    ("starlette", "fastapi/starlette/uvicorn"),
    ("uvicorn", "fastapi/starlette/uvicorn"),
    ("asyncio", "asyncio"),
    ("shared/", "shared (project)"),
    ("_service/", "services (project)"),
    ("logging", "logging"),
)


@asynccontextmanager
async def profiled(py_spy: str | None, pid: int, workdir: Path, name: str) -> AsyncIterator[None]:
    """Record `pid` with py-spy for the duration of the block (nothing without `py_spy`);
    the summary goes to `PROFILES[name]`."""
    if py_spy is None:
        yield
        return
    raw = workdir / f"profile-{name}.txt"
    args = ["record", "--pid", str(pid), "--format", "raw", "--output", str(raw), "--rate", "200"]
    spy = await asyncio.create_subprocess_exec(
        py_spy,
        *args,
        *("--nonblocking", "--threads", "--function", "--gil"),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            spy.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
        await asyncio.wait_for(spy.wait(), 60)
        if raw.exists():
            PROFILES[name] = summarise(raw.read_text())
            PROFILES[name]["raw"] = str(raw)


def summarise(collapsed: str, top: int = 15) -> dict[str, Any]:
    """Shares of samples per thread, per function (self and inclusive) and per package
    (self), from py-spy's raw (collapsed stack) output recorded with `--threads`."""
    threads: Counter[str] = Counter()
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        thread, *frames = stack.split(";")
        if not frames:
            continue
        total += count
        threads[_THREAD.sub("", thread) or "unnamed"] += count
        own[frames[-1]] += count
        packages[_package(frames)] += count
        for frame in set(frames):
            inclusive[frame] += count

    def shares(counter: Counter[str]) -> list[tuple[str, float]]:
        return [(frame, round(100 * n / total, 1)) for frame, n in counter.most_common(top)]

    return {
        "samples": total,
        "thread_percent": shares(threads),
        "self_percent": shares(own),
        "inclusive_percent": shares(inclusive),
        "package_self_percent": shares(packages),
    }


def _package(frames: list[str]) -> str:
    """The package of the innermost frame that is not the interpreter's own plumbing."""
    for frame in reversed(frames):
        match = _FRAME.match(frame)
        where = match.group("file") if match else frame
        for needle, package in _PACKAGES:
            if needle in where:
                return package
    return "other"
