"""Containers for tests on a machine that may reach no container registry: the Docker
engine and local stand-ins for public base images, from `docker-up` and `offline-images`
(../shared/tools/containers)."""

import os
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path

from tests.support.processes import ROOT

SCRIPTS_VARIABLE = "CONTAINER_TOOLS_DIR"


def container_tools() -> Path:
    """The folder of `docker-up` and `offline-images` (which build local stand-ins for the
    base images on a machine with no registry): $CONTAINER_TOOLS_DIR, else the project's
    `../shared/tools/containers`, else /work/shared/tools/containers."""
    configured = os.environ.get(SCRIPTS_VARIABLE)
    candidates = [Path(configured)] if configured else []
    candidates += [ROOT.parent / "shared/tools/containers", Path("/work/shared/tools/containers")]
    for folder in candidates:
        if (folder / "offline-images").is_file():
            return folder
    raise RuntimeError(
        f"no offline-images script in any of {[str(c) for c in candidates]}: "
        f"set {SCRIPTS_VARIABLE} to the folder holding docker-up and offline-images"
    )


def prepare_images(images: Iterable[str], *compose_files: Path) -> None:
    """A running Docker engine, and every image named (and every base image the compose
    files name) present: pulled where a registry is reachable, else a local stand-in.
    offline-images reads compose files only, so the images named go in one of its own."""
    tools = container_tools()
    run([str(tools / "docker-up")], timeout=300)
    with tempfile.TemporaryDirectory(prefix="images-") as folder:
        listing = Path(folder) / "images.yml"
        services = [f"  image{n}:\n    image: {image}\n" for n, image in enumerate(images)]
        listing.write_text("services:\n" + ("".join(services) or "  none: {}\n"))
        run([str(tools / "offline-images"), str(listing), *map(str, compose_files)], timeout=900)


def run(
    command: list[str],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 60,
) -> str:
    result = subprocess.run(
        command, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
        )
    return result.stdout
