"""What tests do to the broker besides AMQP, wherever it runs: make and delete vhosts, list
consumers, unacknowledged deliveries and connections, close connections, stop and start
the node. Three ways to reach it, chosen from the environment:

- the management HTTP API (`TEST_RABBITMQ_MANAGEMENT_URL`, by default port 15672 on the AMQP
  URL's host, as the AMQP URL's user): any broker, local or not, with the management
  plugin. Vhosts and permissions always go through it when it answers. Its listings are the
  plugin's statistics, a few seconds behind, so tests poll them with a deadline.
- `rabbitmqctl` in the broker's container (`TEST_RABBITMQ_CONTAINER`, through
  `docker exec`): live listings, and stopping and starting the node. Used for a container
  rather than the API's listings because those statistics are a deprecated feature of
  RabbitMQ 4 (`management_metrics_collection`), which the test broker runs without.
- the local `rabbitmqctl` (as a user allowed to call it, root here), for the machine's own
  node only (127.0.0.1:5672): the fallback when the API does not answer, and the only way to
  stop and start that node. For any other broker without a container, stopping it fails
  rather than stop the wrong one.
"""

import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol
from urllib.parse import quote, unquote, urlsplit

import httpx

DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
MANAGEMENT_PORT = 15672


class Listings(Protocol):
    """What a test reads about one vhost, live or nearly so."""

    def consumers(self, vhost: str) -> list[str]:
        """The queue of each consumer (a queue with two consumers is named twice)."""
        ...

    def unacked(self, vhost: str, queue: str) -> int:
        """Deliveries from `queue` that its consumers hold unacknowledged right now."""
        ...

    def queue_counts(self, vhost: str, queue: str) -> tuple[int, int]:
        """The queue's ready and unacknowledged messages."""
        ...

    def connections(self, vhost: str) -> set[str]:
        """An id of each client connection to `vhost`."""
        ...

    def close_connections(self, vhost: str, reason: str) -> None: ...


class Administration(Protocol):
    def add_vhost(self, name: str, user: str) -> None:
        """The vhost, and every permission on it for `user`."""
        ...

    def delete_vhost(self, name: str) -> None: ...

    def version(self) -> str: ...


class Rabbitmqctl:
    """`rabbitmqctl` where the node runs: here (`prefix` empty) or in its container."""

    def __init__(self, prefix: Sequence[str] = (), where: str = "the local node") -> None:
        self.prefix = list(prefix)
        self.where = where

    def __call__(self, *args: str) -> str:
        """Run it; a missing broker (or a refused call) fails loudly."""
        command = [*self.prefix, "rabbitmqctl", "-q", *args]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if result.returncode != 0:
            raise RuntimeError(
                f"rabbitmqctl {' '.join(args)} on {self.where} failed: "
                f"{result.stderr or result.stdout}"
            )
        return result.stdout

    def rows(self, *args: str) -> list[list[str]]:
        return [line.split("\t") for line in self(*args, "--no-table-headers").splitlines()]

    def add_vhost(self, name: str, user: str) -> None:
        self("add_vhost", name)
        try:
            self("set_permissions", "-p", name, user, ".*", ".*", ".*")
        except BaseException:
            self.delete_vhost(name)
            raise

    def delete_vhost(self, name: str) -> None:
        self("delete_vhost", name)

    def version(self) -> str:
        return self("version").strip()

    def consumers(self, vhost: str) -> list[str]:
        return [
            row[0].strip() for row in self.rows("list_consumers", "--vhost", vhost, "queue_name")
        ]

    def unacked(self, vhost: str, queue: str) -> int:
        consumers = self.rows("list_consumers", "--vhost", vhost, "queue_name", "channel_pid")
        channels = {row[1].strip() for row in consumers if row[0] == queue}
        total = 0
        for row in self.rows("list_channels", "pid", "messages_unacknowledged"):
            if row[0].strip() in channels and row[-1].strip().isdigit():
                total += int(row[-1])
        return total

    def queue_counts(self, vhost: str, queue: str) -> tuple[int, int]:
        for row in self.rows(
            "list_queues", "--vhost", vhost, "name", "messages_ready", "messages_unacknowledged"
        ):
            if row[0] == queue:
                return int(row[1]), int(row[2])
        raise AssertionError(f"no queue {queue} in {vhost}")

    def connections(self, vhost: str) -> set[str]:
        return {
            row[1].strip()
            for row in self.rows("list_connections", "vhost", "pid")
            if row[0] == vhost
        }

    def close_connections(self, vhost: str, reason: str) -> None:
        self("close_all_connections", "--vhost", vhost, "--limit", "1000", reason)

    def stop_app(self) -> None:
        self("stop_app")

    def start_app(self) -> None:
        self("start_app")
        self("await_startup")


class ManagementApi:
    """The management plugin's HTTP API."""

    def __init__(self, url: str, user: str, password: str) -> None:
        self.url = url.rstrip("/")
        self.auth = (user, password)

    def request(
        self, method: str, path: str, *, timeout: float = 30, **kwargs: Any
    ) -> httpx.Response:
        response = httpx.request(
            method, f"{self.url}/api/{path}", auth=self.auth, timeout=timeout, **kwargs
        )
        if response.status_code >= 400:
            raise RuntimeError(
                f"{method} {self.url}/api/{path}: {response.status_code} {response.text}"
            )
        return response

    def get(self, path: str) -> Any:
        return self.request("GET", path).json()

    def answers(self) -> bool:
        try:
            self.request("GET", "overview", timeout=5).json()
        except (httpx.HTTPError, RuntimeError, ValueError):
            return False
        return True

    def add_vhost(self, name: str, user: str) -> None:
        self.request("PUT", f"vhosts/{_q(name)}")
        try:
            self.request(
                "PUT",
                f"permissions/{_q(name)}/{_q(user)}",
                json={"configure": ".*", "write": ".*", "read": ".*"},
            )
        except BaseException:
            self.delete_vhost(name)
            raise

    def delete_vhost(self, name: str) -> None:
        self.request("DELETE", f"vhosts/{_q(name)}")

    def version(self) -> str:
        return str(self.get("overview")["rabbitmq_version"])

    def consumers(self, vhost: str) -> list[str]:
        return [str(c["queue"]["name"]) for c in self.get(f"consumers/{_q(vhost)}")]

    def unacked(self, vhost: str, queue: str) -> int:
        channels = {
            c["channel_details"]["name"]
            for c in self.get(f"consumers/{_q(vhost)}")
            if c["queue"]["name"] == queue
        }
        return sum(
            int(channel.get("messages_unacknowledged") or 0)
            for channel in self.get(f"vhosts/{_q(vhost)}/channels")
            if channel["name"] in channels
        )

    def queue_counts(self, vhost: str, queue: str) -> tuple[int, int]:
        found = self.get(f"queues/{_q(vhost)}/{_q(queue)}")
        return int(found.get("messages_ready") or 0), int(found.get("messages_unacknowledged") or 0)

    def connections(self, vhost: str) -> set[str]:
        return {str(c["name"]) for c in self.get(f"vhosts/{_q(vhost)}/connections")}

    def close_connections(self, vhost: str, reason: str) -> None:
        for name in self.connections(vhost):
            try:
                self.request("DELETE", f"connections/{_q(name)}", headers={"X-Reason": reason})
            except RuntimeError as exc:
                if " 404 " not in str(exc):  # gone already
                    raise


def _q(name: str) -> str:
    return quote(name, safe="")


class NotHere:
    """Stands in for `rabbitmqctl` when the broker is neither this machine's node nor a
    container of ours: calling it fails, saying why (stopping the local node instead of the
    broker under test would be worse)."""

    where = "no node this test run can reach"

    def __init__(self, amqp_url: str) -> None:
        self.amqp_url = amqp_url

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(
            f"{name}: the broker at {urlsplit(self.amqp_url).netloc.rpartition('@')[2]} is not "
            "this machine's node: name its container (TEST_RABBITMQ_CONTAINER) or its "
            "management API (TEST_RABBITMQ_MANAGEMENT_URL)"
        )


@dataclass(frozen=True)
class BrokerUnderTest:
    """The broker the tests run against, and how each kind of operation reaches it."""

    amqp_url: str
    administration: Administration
    listings: Listings
    node: Rabbitmqctl
    described: str

    @property
    def user(self) -> str:
        return unquote(urlsplit(self.amqp_url).username or "guest")


def amqp_url_under_test() -> str:
    return os.environ.get("TEST_AMQP_URL", DEFAULT_AMQP_URL)


def is_local_node(amqp_url: str) -> bool:
    """The machine's own broker, which the local rabbitmqctl reaches."""
    parts = urlsplit(amqp_url)
    return parts.hostname in {"127.0.0.1", "localhost", "::1"} and (parts.port or 5672) == 5672


@cache
def broker_under_test() -> BrokerUnderTest:
    """Found once per process (whether the management API answers), on first use."""
    amqp_url = amqp_url_under_test()
    parts = urlsplit(amqp_url)
    user = unquote(parts.username or "guest")
    password = unquote(parts.password or "guest")
    explicit = os.environ.get("TEST_RABBITMQ_MANAGEMENT_URL")
    api_url = explicit or f"http://{parts.hostname or '127.0.0.1'}:{MANAGEMENT_PORT}"
    api: ManagementApi | None = ManagementApi(api_url, user, password)
    if not (api and api.answers()):
        if explicit:
            raise RuntimeError(f"TEST_RABBITMQ_MANAGEMENT_URL={explicit} does not answer")
        api = None
    container = os.environ.get("TEST_RABBITMQ_CONTAINER")
    node: Rabbitmqctl
    if container:
        node = Rabbitmqctl(["docker", "exec", container], f"container {container}")
    elif is_local_node(amqp_url):
        node = Rabbitmqctl()
    else:
        node = NotHere(amqp_url)  # type: ignore[assignment]
    listings: Listings = node if container or api is None else api
    administration: Administration = api or node
    api_named = f"the management API at {api.url}" if api else None
    ctl_named = f"rabbitmqctl on {node.where}"
    described = (
        f"vhosts via {api_named or ctl_named}; "
        f"listings via {ctl_named if listings is node else api_named}; "
        f"stop and start via {ctl_named}"
    )
    return BrokerUnderTest(amqp_url, administration, listings, node, described)
