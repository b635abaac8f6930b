"""Processes and broker vhosts for one benchmark run: every service, consumer and load
generator is an OS process of its own (tests.support.processes, in a clean environment),
every phase gets a vhost of its own, and nothing is left behind when a phase ends, however
it ends (benchmarks.databases does the same for PostgreSQL databases)."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

from benchmarks import databases
from benchmarks.workers import READY
from tests.support.broker import vhost_for_the_block
from tests.support.polling import eventually
from tests.support.processes import ROOT, ChildProcess, ServiceProcess, stop_all


def vhost(phase: str) -> AbstractAsyncContextManager[str]:
    """A vhost of this phase's own; yields its AMQP URL and deletes it afterwards."""
    return vhost_for_the_block(f"bench-{phase}")


class Worker(ChildProcess):
    """A worker (`python -m benchmarks.workers.<name> ...`): it prints READY once it can be
    measured, and exits 0 when its job is done."""

    def __init__(self, name: str, module: str, args: list[str], log_dir: Path) -> None:
        super().__init__(name, module, log_dir / f"{name}.log", args=args)

    async def wait_ready(self, timeout: float = 60.0) -> None:
        def said_ready() -> bool:
            if READY in self.log().splitlines():
                return True
            if not self.running:
                raise RuntimeError(f"{self.name} exited before {READY}:\n{self.log_tail()}")
            return False

        await eventually(
            said_ready, bool, timeout=timeout, interval=0.02, what=f"{self.name} ready"
        )

    async def wait(self, timeout: float) -> None:
        """Wait for the worker to finish its job; a non-zero exit is an error."""
        await eventually(
            lambda: self.running,
            lambda running: not running,
            timeout=timeout,
            what=f"{self.name} done",
        )
        assert self.process is not None
        if self.process.returncode != 0:
            raise RuntimeError(
                f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}"
            )


class Service(ServiceProcess):
    """One of the system's services, run exactly as a user runs it, on `database_url`
    (by default SQLite in `data_dir`), logging only warnings, from this checkout or
    `root`, another one (benchmarks.compare). `db` reads its database."""

    def __init__(
        self,
        name: str,
        amqp_url: str,
        data_dir: Path,
        extra: dict[str, str] | None = None,
        database_url: str | None = None,
        root: Path = ROOT,
    ) -> None:
        self.database_url = database_url or f"sqlite:///{data_dir / f'{name}.db'}"
        self.db = databases.reader(self.database_url)
        settings = {
            "AMQP_URL": amqp_url,
            "DATABASE_URL": self.database_url,
            "LOG_LEVEL": "WARNING",
            **(extra or {}),
        }
        super().__init__(name, settings, data_dir, root=root)

    @property
    def postgres_database(self) -> str | None:
        """Its database's name on the PostgreSQL server (None on SQLite)."""
        return databases.postgres_name(self.database_url)


@asynccontextmanager
async def running(*processes: ChildProcess) -> AsyncIterator[None]:
    """Stop every process on the way out, whatever happened inside, and close the harness's
    connections to the services' databases."""
    try:
        yield
    finally:
        try:
            await asyncio.to_thread(stop_all, processes)
        finally:
            for process in processes:
                if isinstance(process, Service):
                    await process.db.close()


# What a service logs when the broker goes away under it (RabbitMQ stopped or restarted).
_BROKER_LOST = ("Unexpected connection close", "CONNECTION_FORCED", "Connection refused")


def broker_disruptions(log_dir: Path) -> list[str]:
    """The logs in `log_dir` that show the broker connection lost during the run."""
    return sorted(
        str(log.relative_to(log_dir))
        for log in log_dir.rglob("*.log")
        if any(sign in log.read_text(errors="replace") for sign in _BROKER_LOST)
    )
