"""`make run`: every service as a local process, output prefixed by service name.
Ctrl-C (or SIGTERM) stops them all gracefully; if one dies, the others are stopped too."""

import asyncio
import os
import signal
import sys

SERVICES = ("order", "inventory", "notification")
COLOURS = ("\033[36m", "\033[33m", "\033[35m")
RESET = "\033[0m"


async def _pipe(name: str, colour: str, stream: asyncio.StreamReader) -> None:
    prefix = f"{colour}{name:<12}|{RESET} " if sys.stdout.isatty() else f"{name:<12}| "
    while line := await stream.readline():
        sys.stdout.write(prefix + line.decode(errors="replace"))
        sys.stdout.flush()


async def main() -> int:
    processes: list[asyncio.subprocess.Process] = []
    pipes = []
    for name, colour in zip(SERVICES, COLOURS, strict=True):
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            f"{name}_service",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            start_new_session=True,  # Ctrl-C reaches us only; we stop the children in order
        )
        processes.append(process)
        assert process.stdout is not None
        pipes.append(asyncio.create_task(_pipe(name, colour, process.stdout)))

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    exits = [asyncio.create_task(p.wait()) for p in processes]
    stopper = asyncio.create_task(stop.wait())
    await asyncio.wait([*exits, stopper], return_when=asyncio.FIRST_COMPLETED)

    for process in processes:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(asyncio.gather(*exits), timeout=20)
    except TimeoutError:
        for process in processes:
            if process.returncode is None:
                process.kill()
    await asyncio.gather(*pipes, return_exceptions=True)
    codes = [p.returncode for p in processes]
    return 0 if stop.is_set() else max(abs(c or 0) for c in codes) or 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
