"""Resident memory and CPU of the processes under test, polled with psutil while they run."""

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass

import psutil  # type: ignore[import-untyped]

MB = 1024 * 1024
BROKER = "rabbitmq"
MACHINE = "machine"  # every process on the machine, ours or not: how noisy it was
POSTGRES = "postgres"  # the PostgreSQL server's work for the databases watched (watch_postgres)
# A client backend's title: "postgres: 15/main: <user> <database> <client>(<port>) <state>"
# (or "[local]" for a socket); the server's own processes (WAL writer, checkpointer, ...)
# have titles of another form.
_BACKEND = re.compile(r"^postgres: .*?: \S+ (?P<database>\S+) (\S+\(\d+\)|\[local\])")


@dataclass(frozen=True)
class CpuMark:
    wall: float
    cpu_seconds: dict[str, float]


class Monitor:
    """Peak RSS per named process (a name may be watched again under a new pid: the peak is
    over all of them), and CPU use between two marks, as a share of one core."""

    def __init__(self, interval: float = 0.1) -> None:
        self.interval = interval
        self.peak_rss_mb: dict[str, float] = {}
        self._processes: dict[str, psutil.Process] = {}
        self._peak_names: dict[str, str] = {}
        self._scopes: list[dict[str, float]] = []
        self._postgres: frozenset[str] = frozenset()
        broker = _find_broker()
        if broker is not None:
            self._processes[BROKER] = broker

    def watch(self, name: str, pid: int, *, peak_as: str | None = None) -> None:
        """CPU is read under `name`; the peak RSS is kept under `peak_as` (default `name`):
        two instances of a service measured apart still have one peak."""
        self._processes[name] = psutil.Process(pid)
        self._peak_names[name] = peak_as or name
        self.sample()

    def forget(self, name: str) -> None:
        self._processes.pop(name, None)
        self._peak_names.pop(name, None)

    def watch_postgres(self, databases: Iterable[str]) -> None:
        """Measure the PostgreSQL server's CPU, under POSTGRES, for these databases: their
        backends' and the server's own processes' (WAL writer, checkpointer, ...; shared
        with any other database busy at the time). Backends that come and go between two
        marks are missed: the services keep theirs in a pool."""
        self._postgres = frozenset(databases)

    def forget_postgres(self) -> None:
        self._postgres = frozenset()

    @contextmanager
    def peaks_into(self, peaks: dict[str, float]) -> Iterator[dict[str, float]]:
        """Also record peak RSS per name into `peaks` while the block runs (the peaks of
        some phases only; `peak_rss_mb` is over the whole run)."""
        self._scopes.append(peaks)
        try:
            yield peaks
        finally:
            self._scopes.remove(peaks)

    def rss_mb(self, name: str) -> float:
        with contextlib.suppress(psutil.Error, KeyError):
            return float(self._processes[name].memory_info().rss / MB)
        return float("nan")

    def anon_mb(self, name: str) -> float:
        """Resident memory less file-backed and shared pages: the process's own heap."""
        with contextlib.suppress(psutil.Error, KeyError):
            info = self._processes[name].memory_info()
            return float((info.rss - info.shared) / MB)
        return float("nan")

    def broker_restarted(self) -> bool:
        """Whether the RabbitMQ node seen at the start is gone (restarted under the run)."""
        broker = self._processes.get(BROKER)
        return broker is not None and not broker.is_running()

    def sample(self) -> None:
        for name, process in list(self._processes.items()):
            if name == BROKER:
                continue
            with contextlib.suppress(psutil.Error):
                rss = process.memory_info().rss / MB
                key = self._peak_names.get(name, name)
                for peaks in (self.peak_rss_mb, *self._scopes):
                    peaks[key] = max(peaks.get(key, 0.0), rss)

    def mark(self) -> CpuMark:
        busy = psutil.cpu_times()
        cpu = {MACHINE: sum(busy) - busy.idle - getattr(busy, "iowait", 0.0)}
        for name, process in self._processes.items():
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                cpu[name] = times.user + times.system
        if self._postgres:
            cpu[POSTGRES] = _postgres_cpu_seconds(self._postgres)
        return CpuMark(time.monotonic(), cpu)

    def cpu_seconds_since(self, start: CpuMark) -> dict[str, float]:
        end = self.mark()
        return {
            name: end.cpu_seconds[name] - start.cpu_seconds[name]
            for name in end.cpu_seconds
            if name in start.cpu_seconds
        }

    def cpu_since(self, start: CpuMark) -> dict[str, float]:
        """Share of one core each process used since `start` (2.0 = both cores)."""
        wall = time.monotonic() - start.wall
        used = self.cpu_seconds_since(start)
        return {name: round(seconds / wall, 2) for name, seconds in used.items() if wall > 0}

    @asynccontextmanager
    async def polling(self) -> AsyncIterator["Monitor"]:
        task = asyncio.create_task(self._poll())
        try:
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _poll(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(self.interval)


def _postgres_cpu_seconds(databases: frozenset[str]) -> float:
    """CPU seconds so far of the PostgreSQL server's processes: the backends of
    `databases`, and the server's own processes (not other databases' backends)."""
    total = 0.0
    for process in psutil.process_iter(["name", "cmdline"]):
        if process.info["name"] != "postgres":
            continue
        backend = _BACKEND.match(" ".join(process.info["cmdline"] or ()))
        if backend is not None and backend["database"] not in databases:
            continue
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            total += times.user + times.system
    return total


def _find_broker() -> psutil.Process | None:
    """The RabbitMQ node on this machine (read only: its CPU tells whether it is the limit)."""
    for process in psutil.process_iter(["name"]):
        if process.info["name"] == "beam.smp":
            return process
    return None
