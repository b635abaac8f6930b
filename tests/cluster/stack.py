"""The cluster profile under test: the compose stack with docker/compose.cluster.yml on top,
under a project name and env file of its own (tests.compose.stack.ComposeStack), started
with the parts the fault test needs: three broker nodes, PostgreSQL, Mailpit, Jaeger and the
order, inventory and notification services."""

import json
import subprocess
from pathlib import Path
from typing import Any

import httpx

from tests.compose.stack import ComposeStack, run
from tests.support.processes import ROOT, free_port

CLUSTER_FILE = ROOT / "docker/compose.cluster.yml"
NODES = ("rabbitmq", "rabbitmq-2", "rabbitmq-3")
SERVICES = ("order_service", "inventory_service", "notification_service")
MANAGEMENT_PORTS = {
    "rabbitmq": "RABBITMQ_MANAGEMENT_PORT",
    "rabbitmq-2": "RABBITMQ_2_MANAGEMENT_PORT",
    "rabbitmq-3": "RABBITMQ_3_MANAGEMENT_PORT",
}


class ClusterStack(ComposeStack):
    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.project = self.project.replace("composetest", "clustertest")
        self.settings["APP_IMAGE"] = f"rabbit-orders:{self.project}"
        for name in ("RABBITMQ_2_MANAGEMENT_PORT", "RABBITMQ_3_MANAGEMENT_PORT"):
            self.settings[name] = str(free_port())
        self.settings["RABBITMQ_ERLANG_COOKIE"] = self.settings["RABBITMQ_ERLANG_COOKIE"] + "x"
        self.env_file.write_text("".join(f"{k}={v}\n" for k, v in self.settings.items()))

    def compose(self, *args: str, timeout: float = 180) -> str:
        return super().compose("-f", str(CLUSTER_FILE), *args, timeout=timeout)

    def logs(self) -> str:
        """Every container's state and log, read with docker itself (the compose file may
        have changed under a long run)."""
        try:
            containers = self.containers()
            parts = [str(c) for c in containers]
            for c in containers:
                name = c["name"].lstrip("/")
                result = subprocess.run(
                    ["docker", "logs", "--timestamps", name],
                    capture_output=True,
                    text=True,
                    timeout=60,
                )
                parts.append(f"===== {name} =====\n{result.stdout}{result.stderr}")
        except Exception as exc:  # diagnostics must never hide the failure they explain
            return f"(could not read the logs: {exc!r})"
        return "\n".join(parts)

    def down(self) -> None:
        try:
            super().down()
        except Exception:
            # Whatever compose makes of its files now, nothing of this project stays.
            label = f"label=com.docker.compose.project={self.project}"
            for kind in ("container", "volume", "network"):
                # Containers stopped or running (`docker container ls` lists running ones).
                listing = ["docker", "ps", "-a"] if kind == "container" else ["docker", kind, "ls"]
                found = run([*listing, "-q", "--filter", label]).split()
                if found:
                    command = ["docker", kind, "rm", *(["-f"] if kind == "container" else [])]
                    subprocess.run([*command, *found], capture_output=True, timeout=120)
            raise

    def container(self, service: str) -> str:
        (found,) = [c["name"].lstrip("/") for c in self.containers() if c["service"] == service]
        return found

    def docker(self, *args: str, timeout: float = 60) -> str:
        return run(["docker", *args], timeout=timeout)

    def running(self, service: str) -> bool:
        state = self.docker("inspect", "--format", "{{.State.Running}}", self.container(service))
        return state.strip() == "true"

    def management(self, node: str) -> httpx.Client:
        port = self.settings[MANAGEMENT_PORTS[node]]
        auth = ("operator", self.settings["RABBITMQ_OPERATOR_PASSWORD"])
        return httpx.Client(base_url=f"http://127.0.0.1:{port}/api", auth=auth, timeout=10)

    def queues(self, node: str) -> dict[str, dict[str, Any]]:
        """Every queue of vhost "/" as `node`'s management API sees it."""
        with self.management(node) as api:
            response = api.get(
                "/queues/%2F",
                params={"columns": "name,type,leader,members,online,consumers,messages"},
            )
            response.raise_for_status()
            return {q["name"]: q for q in json.loads(response.text)}
