"""Child processes of tests and benchmarks: a service run as `python -m <name>_service`
exactly as a user runs it, or any other module, in a clean environment, its output in a
log file of its own."""

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Self

import httpx

from tests.support import keys
from tests.support.polling import eventually

ROOT = Path(__file__).resolve().parents[2]

# What a child inherits from this process: enough to run Python and the tools it calls,
# never a setting of the system under test (ADMIN_TOKEN, SMTP_*, PREFETCH_COUNT, AMQP_URL,
# DATABASE_URL, LOG_FORMAT, OTEL_*, ...): those it gets only when a test passes them.
INHERITED = ("PATH", "HOME", "LANG", "TMPDIR")
INHERITED_PREFIXES = ("LC_",)

# Lines that mean something went unhandled in a service, in either log format.
UNHANDLED = (
    " CRITICAL ",
    '"level":"critical"',
    "Task exception was never retrieved",
    "Exception in ASGI application",
    "Unhandled exception",
)


def free_port() -> int:
    """A port free now, below the kernel's range of ephemeral ports: one from that range (what
    binding port 0 gives) can be taken before the child binds it as the local port of any
    outgoing connection, or by a container's published port (it happened in CI: "cannot
    listen ... Address already in use"). Another pytest worker may still pick the same port,
    rarely: `listens_on` tells whose it is."""
    last = min(_ephemeral_ports()[0], _LAST_PORT)
    for _ in range(100 if last - _FIRST_PORT >= 1000 else 0):
        port = _random.randrange(_FIRST_PORT, last)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as sock:  # a machine whose ephemeral range starts low: any port
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


_FIRST_PORT, _LAST_PORT = 20_000, 32_768
_random = random.SystemRandom()  # not the tests' seeded random: workers must differ


def _ephemeral_ports() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32_768, 60_999  # Linux's default


_LISTEN = "0A"  # TCP_LISTEN in /proc/net/tcp


def listens_on(pid: int, port: int) -> bool:
    """Whether process `pid` itself holds a listening TCP socket on `port` (Linux: its
    file descriptors' socket inodes against the kernel's table of sockets)."""
    inodes = set()
    try:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[len("socket:[") : -1])
    except OSError:
        return False  # gone
    for table in (Path("/proc/net/tcp"), Path("/proc/net/tcp6")):
        if not table.exists():
            continue  # no IPv6
        for line in table.read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == _LISTEN and int(local.rsplit(":", 1)[1], 16) == port and inode in inodes:
                return True
    return False


def python_output(code: str, *, timeout: float = 60.0) -> str:
    """What `python -c code` prints, run with this interpreter from the project's root: for
    what must not happen in the test run's own process (a frozen collector, a global tracer
    provider stay for its life). Fails with the child's stderr if it fails."""
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def clean_environment(settings: Mapping[str, str], *, test_keys: bool = True) -> dict[str, str]:
    """The environment of a child process: what it needs from ours, the test run's event
    keys (tests.support.keys), plus `settings`."""
    inherited = {
        name: value
        for name, value in os.environ.items()
        if name in INHERITED or name.startswith(INHERITED_PREFIXES)
    }
    run_keys = keys.settings() if test_keys else {}
    return {**inherited, "PYTHONUNBUFFERED": "1", **run_keys, **settings}


class ChildProcess:
    """`python -m <module> <args>`, run from the project's root (or `root`: another checkout
    of it, with this interpreter and its packages) with `settings` as its only
    configuration; its stdout and stderr go to `log_path`."""

    def __init__(
        self,
        name: str,
        module: str,
        log_path: Path,
        settings: Mapping[str, str] | None = None,
        args: Sequence[str] = (),
        test_keys: bool = True,
        root: Path = ROOT,
    ) -> None:
        self.name = name
        self.module = module
        self.args = list(args)
        self.env = clean_environment(settings or {}, test_keys=test_keys)
        self.log_path = log_path
        self.root = root
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Self:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", self.module, *self.args],
                env=self.env,
                cwd=self.root,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM, then SIGKILL if it has not exited within `timeout`; the exit status."""
        self.terminate()
        return self.reap(timeout)

    def terminate(self) -> None:
        if self.running:
            assert self.process is not None
            self.process.send_signal(signal.SIGTERM)

    def reap(self, timeout: float) -> int | None:
        if self.process is None:
            return None
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            # Killed, which the exit status reports: never leave a process behind.
            self.process.kill()
            return self.process.wait()

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def unhandled(self) -> list[str]:
        """The lines of its log that say something went unhandled."""
        return [line for line in self.log().splitlines() if any(m in line for m in UNHANDLED)]


def stop_all(processes: Iterable[ChildProcess], timeout: float = 20.0) -> None:
    """Stop them side by side: every one is signalled before any is waited for."""
    processes = list(processes)
    for process in processes:
        process.terminate()
    for process in processes:
        process.reap(timeout)


class ServiceProcess(ChildProcess):
    """One service, run as `python -m <name>_service` exactly as a user would, on a port of
    its own, configured by `settings` alone."""

    def __init__(
        self,
        name: str,
        settings: Mapping[str, str],
        log_dir: Path,
        module: str | None = None,
        root: Path = ROOT,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ready = False  # seen ready once (wait_ready)
        super().__init__(
            name,
            module or f"{name}_service",
            log_dir / f"{name}-{self.port}.log",
            {**settings, "HTTP_PORT": str(self.port), "HTTP_HOST": "127.0.0.1"},
            root=root,
        )

    async def wait_ready(self, timeout: float = 30.0) -> None:
        async def probe() -> int:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"{self.name} exited early:\n{self.log()}")
            # Not before it listens on its port itself: until then an answer there would
            # come from whatever else holds the port (another worker's service).
            if self.process is None or not listens_on(self.process.pid, self.port):
                return 0
            try:
                async with httpx.AsyncClient(timeout=2) as client:
                    return (await client.get(f"{self.url}/health/ready")).status_code
            except httpx.HTTPError:
                return 0

        await eventually(
            probe, lambda code: code == 200, timeout=timeout, what=f"{self.name} ready"
        )
        self.ready = True

    def why_not_stopped_cleanly(self) -> list[str]:
        """Why its stop was not clean ([] if it was): it must exit on SIGTERM (uvicorn
        re-raises it once shut down) after a graceful shutdown, with nothing unhandled on
        the way. (Tracebacks that aiormq logs when the broker drops a connection are
        expected in some tests, and allowed.)"""
        assert self.process is not None
        reasons = []
        if self.process.returncode not in (0, -signal.SIGTERM):
            reasons.append(f"exit status {self.process.returncode}")
        if f"{self.name} service stopped" not in self.log():
            reasons.append(f"no '{self.name} service stopped' line")
        return reasons + self.unhandled()

    def stopped_cleanly(self) -> bool:
        return not self.why_not_stopped_cleanly()
