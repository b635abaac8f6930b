"""Processes and broker vhosts for one benchmark run: every service, consumer and load
generator is an OS process of its own, every phase gets a vhost of its own, and nothing is
left behind when a phase ends, however it ends."""

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Coroutine, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
BROKER = os.environ.get("BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
T = TypeVar("T")


def run_async(main: Coroutine[Any, Any, T]) -> T:
    """Run on uvloop when installed, as uvicorn runs the services."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


def rabbitmqctl(*args: str) -> str:
    result = subprocess.run(
        ["rabbitmqctl", "-q", *args], capture_output=True, text=True, timeout=120, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {' '.join(args)} failed: {result.stderr or result.stdout}")
    return result.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def vhost(phase: str) -> AsyncIterator[str]:
    """A vhost of this phase's own; yields its AMQP URL and deletes it afterwards."""
    name = f"bench-{uuid.uuid4().hex[:10]}-{phase}"
    await asyncio.to_thread(rabbitmqctl, "add_vhost", name)
    try:
        await asyncio.to_thread(rabbitmqctl, "set_permissions", "-p", name, "guest", *[".*"] * 3)
        yield BROKER.rstrip("/") + "/" + quote(name, safe="")
    finally:
        await asyncio.to_thread(rabbitmqctl, "delete_vhost", name)


class Process:
    """A child process (`python -m <module> ...`) whose output goes to a log file; a
    worker's stdout is a pipe on which it says when it is ready."""

    piped_stdout = True

    def __init__(self, name: str, module: str, args: list[str], log_dir: Path) -> None:
        self.name = name
        self.module = module
        self.args = args
        self.log_path = log_dir / f"{name}.log"
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def start(self, env: Mapping[str, str] | None = None) -> "Process":
        with self.log_path.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                self.module,
                *self.args,
                cwd=ROOT,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
                stdout=asyncio.subprocess.PIPE if self.piped_stdout else log,
                stderr=log,
            )
        return self

    async def wait_line(self, expected: str, timeout: float = 60.0) -> None:
        """Wait for the child to print `expected` (how workers say they are ready)."""
        assert self.proc is not None and self.proc.stdout is not None
        async with asyncio.timeout(timeout):
            while line := await self.proc.stdout.readline():
                if line.decode().strip() == expected:
                    return
        raise RuntimeError(f"{self.name} exited before {expected!r}:\n{self.log_tail()}")

    async def wait(self, timeout: float) -> None:
        """Wait for a worker to finish its job; a non-zero exit is an error."""
        assert self.proc is not None
        try:
            code = await asyncio.wait_for(self.proc.wait(), timeout)
        except TimeoutError:
            raise RuntimeError(f"{self.name} still running after {timeout:.0f}s") from None
        if code != 0:
            raise RuntimeError(f"{self.name} exited with {code}:\n{self.log_tail()}")

    async def stop(self, timeout: float = 20.0) -> None:
        if self.proc is None or self.proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.proc.wait(), timeout)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


class Service(Process):
    """One of the system's services, run exactly as a user runs it."""

    piped_stdout = False  # it logs to stdout

    def __init__(self, name: str, amqp_url: str, data_dir: Path) -> None:
        super().__init__(name, f"{name}_service", [], data_dir)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.db_path = data_dir / f"{name}.db"
        self.env = {
            "AMQP_URL": amqp_url,
            "DATABASE_URL": f"sqlite:///{self.db_path}",
            "HTTP_HOST": "127.0.0.1",
            "HTTP_PORT": str(self.port),
            "LOG_LEVEL": "WARNING",
        }

    async def start(self, env: Mapping[str, str] | None = None) -> "Service":
        await super().start({**self.env, **(env or {})})
        return self

    async def wait_ready(self, timeout: float = 60.0) -> None:
        assert self.proc is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            while loop.time() < deadline:
                if self.proc.returncode is not None:
                    raise RuntimeError(f"{self.name} exited early:\n{self.log_tail()}")
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with http.get(f"{self.url}/health/ready") as response:
                        if response.status == 200:
                            return
                await asyncio.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready within {timeout:.0f}s:\n{self.log_tail()}")


@asynccontextmanager
async def running(*processes: Process) -> AsyncIterator[None]:
    """Stop every process on the way out, whatever happened inside."""
    try:
        yield
    finally:
        await asyncio.gather(*(p.stop() for p in processes), return_exceptions=True)


# What a service logs when the broker goes away under it (RabbitMQ stopped or restarted).
_BROKER_LOST = ("Unexpected connection close", "CONNECTION_FORCED", "Connection refused")


def broker_disruptions(log_dir: Path) -> list[str]:
    """The logs in `log_dir` that show the broker connection lost during the run."""
    return sorted(
        str(log.relative_to(log_dir))
        for log in log_dir.rglob("*.log")
        if any(sign in log.read_text(errors="replace") for sign in _BROKER_LOST)
    )
