"""`make run`: every service as a local process, output prefixed by service name.
Ctrl-C (or SIGTERM) stops them all gracefully; if one dies, the others are stopped too,
and the runner says which one and why.

Each service listens on its default port unless `<SERVICE>_HTTP_PORT` is set (for
example `ORDER_HTTP_PORT=9000 make run`). A port that is already taken is reported
before anything starts. The audit service (8003) is told where the others listen."""

import asyncio
import os
import signal
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

from shared.process.keys import ensure_local_keys

COLOURS = ("\033[36m", "\033[33m", "\033[35m", "\033[32m")
RESET = "\033[0m"
EXIT_CANNOT_LISTEN = 2  # shared.process.serve


@dataclass(frozen=True)
class Service:
    name: str
    default_port: int

    @property
    def port(self) -> int:
        return int(os.environ.get(f"{self.name.upper()}_HTTP_PORT", self.default_port))


SERVICES = (
    Service("order", 8000),
    Service("inventory", 8001),
    Service("notification", 8002),
    Service("audit", 8003),
)


def environment(service: Service, host: str) -> dict[str, str]:
    """What a service is started with on top of ours: its port, and for the audit service
    where the others are (its page reads their APIs and posts orders to the order service)."""
    settings = {"PYTHONUNBUFFERED": "1", "HTTP_PORT": str(service.port)}
    if service.name == "audit":
        local = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        for other in SERVICES:
            if other.name != "audit":
                name = f"{other.name.upper()}_SERVICE_URL"
                settings[name] = os.environ.get(name, f"http://{local}:{other.port}")
    return settings


def taken_ports(services: tuple[Service, ...], host: str) -> list[Service]:
    taken = []
    for service in services:
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, service.port))
            except OSError:
                taken.append(service)
    return taken


async def _pipe(name: str, colour: str, stream: asyncio.StreamReader) -> None:
    prefix = f"{colour}{name:<12}|{RESET} " if sys.stdout.isatty() else f"{name:<12}| "
    while line := await stream.readline():
        sys.stdout.write(prefix + line.decode(errors="replace"))
        sys.stdout.flush()


def _say(text: str) -> None:
    sys.stdout.write(f"{'make run':<12}| {text}\n")
    sys.stdout.flush()


async def main() -> int:
    host = os.environ.get("HTTP_HOST", "127.0.0.1")
    taken = taken_ports(SERVICES, host)
    if taken:
        for service in taken:
            _say(
                f"port {service.port} ({service.name} service) is already in use on {host}: "
                f"stop what uses it, or set {service.name.upper()}_HTTP_PORT"
            )
        return EXIT_CANNOT_LISTEN
    if "EVENT_SIGNING_KEYS" not in os.environ:
        # Development keys, made before any service starts (shared.process.keys).
        ensure_local_keys(Path(os.environ.get("VAR_DIR", "var")) / "keys", ["order", "inventory"])
    processes: dict[Service, asyncio.subprocess.Process] = {}
    pipes = []
    for service, colour in zip(SERVICES, COLOURS, strict=False):
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            f"{service.name}_service",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, **environment(service, host)},
            start_new_session=True,  # Ctrl-C reaches us only; we stop the children in order
        )
        processes[service] = process
        assert process.stdout is not None
        pipes.append(asyncio.create_task(_pipe(service.name, colour, process.stdout)))

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    exits = {asyncio.create_task(p.wait()): s for s, p in processes.items()}
    stopper = asyncio.create_task(stop.wait())
    await asyncio.wait([*exits, stopper], return_when=asyncio.FIRST_COMPLETED)
    for task, service in exits.items():
        if task.done():
            code = task.result()
            why = (
                f"it could not listen on port {service.port}"
                if code == EXIT_CANNOT_LISTEN
                else "see its log above"
            )
            _say(f"{service.name} service exited with status {code} ({why}); stopping the others")

    for process in processes.values():
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(asyncio.gather(*exits), timeout=20)
    except TimeoutError:
        for process in processes.values():
            if process.returncode is None:
                process.kill()
    await asyncio.gather(*pipes, return_exceptions=True)
    codes = [p.returncode for p in processes.values()]
    return 0 if stop.is_set() else max(abs(c or 0) for c in codes) or 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
