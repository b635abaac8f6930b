"""Scratch copies of the working tree: one snapshot taken at the start (so every mutation
is tried on the same code, whatever is edited meanwhile), and a fresh copy of it for each
mutation, where the tests run with the copy as their working directory."""

import shutil
import subprocess
import sys
from pathlib import Path

# Run in a copy: the in-process imports and a child started the way the tests start
# services (tests.support.processes) must both find the copy's code, not the checkout's
# (the virtualenv holds an editable install of the checkout).
_WHERE_CODE_COMES_FROM = """
import subprocess, sys
import shared
from tests.support.processes import ROOT, clean_environment
child = subprocess.run(
    [sys.executable, "-c", "import order_service; print(order_service.__file__)"],
    cwd=ROOT, env=clean_environment({}), capture_output=True, text=True, check=True,
)
print(shared.__file__)
print(ROOT)
print(child.stdout.strip())
"""


def tracked_files(checkout: Path) -> list[str]:
    """The files of the working tree that git knows or would add: tracked ones (as they
    are now, edits included) and new ones that are not ignored."""
    listed = subprocess.run(
        [
            "git",
            "-C",
            str(checkout),
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ],
        capture_output=True,
        check=True,
    ).stdout.decode()
    return list(dict.fromkeys(name for name in listed.split("\0") if name))


def snapshot(checkout: Path, target: Path) -> int:
    """Copy the working tree's files to `target`; returns how many."""
    copied = 0
    for name in tracked_files(checkout):
        source = checkout / name
        if not source.is_file() and not source.is_symlink():
            continue  # deleted in the working tree, not yet in the index
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, destination, follow_symlinks=False)
        copied += 1
    return copied


def fresh_copy(pristine: Path, target: Path) -> Path:
    """A copy without compiled files: nothing compiled from unchanged code can stand in for
    the changed code."""
    shutil.copytree(pristine, target, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def code_origins(copy: Path) -> list[Path]:
    """Where the code comes from when run in `copy`: in-process, the tests' idea of the
    project root, and a child process started the way the tests start services."""
    result = subprocess.run(
        [sys.executable, "-c", _WHERE_CODE_COMES_FROM],
        cwd=copy,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return [Path(line).resolve() for line in result.stdout.splitlines()]


def check_runs_its_own_code(copy: Path) -> None:
    origins = code_origins(copy)
    strays = [str(p) for p in origins if not p.is_relative_to(copy.resolve())]
    if len(origins) != 3 or strays:
        raise RuntimeError(f"code run in {copy} is not the copy's own: {origins}")
