"""One pytest run in a scratch copy, in a process group of its own, so that whatever it
starts (service processes, command-line tools) is ended with it, even on a timeout."""

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

# pytest's exit statuses: 0 all passed, 1 some failed, 2 interrupted (a collection error),
# 3 internal error, 4 usage error (a test that is not there), 5 no tests collected.
PASSED, FAILED = 0, 1


@dataclass(frozen=True)
class PytestRun:
    status: int | None  # None: timed out
    seconds: float
    output: str
    failures: list[str]  # the tests that failed, in order (tests.mutation.failures_plugin)
    leftovers: bool  # processes were still running after pytest ended, and were ended

    @property
    def first_failure(self) -> str | None:
        return self.failures[0] if self.failures else None

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.output.rstrip().splitlines()[-lines:])


def run_pytest(
    copy: Path, tests: list[str], *, timeout: float, stop_at_first_failure: bool = True
) -> PytestRun:
    log_path = copy / ".mutation-pytest.log"
    failures_path = copy / ".mutation-failures"
    failures_path.unlink(missing_ok=True)
    command = [
        sys.executable,
        "-m",
        "pytest",
        *(["-x"] if stop_at_first_failure else []),
        "-q",
        "-rfE",
        "--no-header",
        "-p",
        "no:cacheprovider",
        "-p",
        "tests.mutation.failures_plugin",
        f"--basetemp={copy / '.pytest-tmp'}",
        *tests,
    ]
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "MUTATION_FAILURES": str(failures_path)}
    started = time.monotonic()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=copy,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            status: int | None = process.wait(timeout)
        except subprocess.TimeoutExpired:
            status = None
            end_group(process.pid)
            process.wait()
        except BaseException:
            end_group(process.pid)
            process.wait()
            raise
    seconds = time.monotonic() - started
    leftovers = end_group(process.pid)
    failures = (
        [line.split("\t", 1)[0] for line in failures_path.read_text().splitlines()]
        if failures_path.exists()
        else []
    )
    return PytestRun(status, seconds, log_path.read_text(errors="replace"), failures, leftovers)


def end_group(group: int, grace: float = 10.0) -> bool:
    """End what is left of process group `group` (SIGTERM, then SIGKILL after `grace`
    seconds); whether anything was left."""
    if not _alive(group):
        return False
    _signal(group, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while _alive(group) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(group):
        _signal(group, signal.SIGKILL)
    return True


def _alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _signal(group: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, sig)
