"""What a newcomer meets on a fresh clone: `make run` (shared.process.dev_runner) and a
service run on its own, when things are fine and when a port is taken; the dead-letter
command line when the broker or the queue is not there; logs a machine can read."""

import asyncio
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from tests.support.polling import eventually
from tests.support.processes import ChildProcess, free_port

UNREACHABLE_BROKER = "amqp://guest:guest@127.0.0.1:1/"


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield int(holder.getsockname()[1])


async def exited(process: ChildProcess, within: float) -> int:
    await eventually(lambda: process.running, lambda running: not running, timeout=within)
    assert process.process is not None and process.process.returncode is not None
    return process.process.returncode


async def test_a_service_whose_port_is_taken_exits_at_once_and_names_the_port(
    taken_port: int, tmp_path: Path
) -> None:
    # The broker is unreachable too: before the fix, that kept it reconnecting for good.
    service = ChildProcess(
        "order",
        "order_service",
        tmp_path / "order.log",
        {"HTTP_PORT": str(taken_port), "AMQP_URL": UNREACHABLE_BROKER, "VAR_DIR": str(tmp_path)},
    ).start()
    try:
        started = time.monotonic()
        status = await exited(service, within=10)
    finally:
        service.stop()
    assert status == 2
    assert time.monotonic() - started < 10
    assert f"cannot listen on 127.0.0.1:{taken_port}" in service.log()


def dev_runner(tmp_path: Path, broker_url: str, ports: dict[str, int]) -> ChildProcess:
    """`make run` as a fresh clone runs it: no keys, no databases yet (VAR_DIR is empty)."""
    settings = {
        "AMQP_URL": broker_url,
        "VAR_DIR": str(tmp_path / "var"),
        **{f"{name.upper()}_HTTP_PORT": str(port) for name, port in ports.items()},
    }
    return ChildProcess(
        "make-run", "shared.process.dev_runner", tmp_path / "run.log", settings, test_keys=False
    )


async def test_make_run_names_a_taken_port_and_starts_nothing(
    taken_port: int, tmp_path: Path, broker_url: str
) -> None:
    ports = {
        "order": free_port(),
        "inventory": taken_port,
        "notification": free_port(),
        "audit": free_port(),
    }
    runner = dev_runner(tmp_path, broker_url, ports).start()
    try:
        status = await exited(runner, within=15)
    finally:
        runner.stop()
    assert status == 2
    assert f"port {taken_port} (inventory service) is already in use" in runner.log()
    assert "service started" not in runner.log()


async def test_make_run_on_a_fresh_clone_serves_an_order_and_stops_the_others_when_one_dies(
    tmp_path: Path, broker_url: str
) -> None:
    ports = {name: free_port() for name in ("order", "inventory", "notification", "audit")}
    runner = dev_runner(tmp_path, broker_url, ports).start()
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    try:
        async with httpx.AsyncClient(timeout=5) as http:

            async def ready() -> set[str]:
                up = set()
                for name, url in urls.items():
                    try:
                        if (await http.get(f"{url}/health/ready")).status_code == 200:
                            up.add(name)
                    except httpx.HTTPError:
                        pass
                return up

            await eventually(ready, lambda up: len(up) == 4, timeout=60, what="all ready")
            await http.put(f"{urls['inventory']}/stock/SKU-1", json={"available": 5})
            placed = await http.post(
                f"{urls['order']}/orders",
                json={"customer_id": "c-1", "items": [{"sku": "SKU-1", "quantity": 2}]},
            )
            assert placed.status_code == 202
            order = await eventually(
                lambda: http.get(f"{urls['order']}/orders/{placed.json()['id']}"),
                lambda r: r.json()["status"] != "PENDING",
                timeout=30,
            )
            assert order.json()["status"] == "CONFIRMED", "events signed with local keys"
            # The audit service found the others and logged the order's events as genuine.
            logged = await eventually(
                lambda: http.get(f"{urls['audit']}/events?order_id={placed.json()['id']}"),
                lambda r: len(r.json()) == 2,
                timeout=30,
            )
            assert {e["verdict"] for e in logged.json()} == {"genuine"}
            page = await http.get(f"{urls['audit']}/")
            assert placed.json()["id"] in page.text
        assert sorted(p.name for p in (tmp_path / "var" / "keys").glob("*.pub")) == [
            "inventory.pub",
            "order.pub",
        ]
        # One service dies: the runner says which, and stops the others.
        os.kill(await _pid_listening_on(ports["notification"]), signal.SIGKILL)
        status = await exited(runner, within=30)
    finally:
        runner.stop()
    assert status != 0
    assert "notification service exited with status -9" in runner.log()
    for port in (ports["order"], ports["inventory"], ports["audit"]):
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0, f"nothing listens on {port}"


async def _pid_listening_on(port: int) -> int:
    process = await asyncio.create_subprocess_exec(
        "ss", "-Hltnp", f"sport = :{port}", stdout=asyncio.subprocess.PIPE
    )
    out, _ = await process.communicate()
    text = out.decode()
    return int(text.split("pid=", 1)[1].split(",", 1)[0])


async def dead_letter_cli(tmp_path: Path, *args: str) -> tuple[int, str]:
    """Its exit status and what it wrote (stdout and stderr)."""
    (tmp_path / "cli.log").unlink(missing_ok=True)
    cli = ChildProcess(
        "cli", "shared.process.dead_letter_cli", tmp_path / "cli.log", args=args
    ).start()
    return await exited(cli, within=30), cli.log()


async def test_the_dead_letter_cli_says_in_one_line_what_is_wrong(
    tmp_path: Path, broker_url: str
) -> None:
    cases = {
        "unreachable": ("--amqp-url", UNREACHABLE_BROKER, "--timeout", "3", "list", "q"),
        "unknown queue": ("--amqp-url", broker_url, "list", "no.such-queue"),
    }
    outputs = {}
    for name, args in cases.items():
        status, output = await dead_letter_cli(tmp_path, *args)
        assert status == 1, (name, output)
        lines = output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (name, output)
        outputs[name] = lines[0]
    assert "cannot reach the broker at 127.0.0.1:1" in outputs["unreachable"]
    assert "no queue no.such-queue.dlq" in outputs["unknown queue"]


async def test_the_dead_letter_cli_show_of_an_unknown_id_exits_non_zero(
    tmp_path: Path, broker_url: str
) -> None:
    from shared.contract.topology import INVENTORY_ORDER_EVENTS
    from shared.messaging.declare import declare
    from tests.support.broker import BrokerProbe

    async with BrokerProbe(broker_url) as probe:
        assert probe.channel is not None
        await declare(probe.channel, retry_delays=(1.0,))
    status, output = await dead_letter_cli(
        tmp_path, "--amqp-url", broker_url, "show", INVENTORY_ORDER_EVENTS.name, "nope"
    )
    assert status == 1
    assert output.strip() == f"error: no dead letter nope in {INVENTORY_ORDER_EVENTS.name}.dlq"


async def test_json_logs_carry_no_terminal_colour_escapes(tmp_path: Path, broker_url: str) -> None:
    port = free_port()
    service = ChildProcess(
        "inventory",
        "inventory_service",
        tmp_path / "inventory.log",
        {
            "HTTP_PORT": str(port),
            "AMQP_URL": broker_url,
            "VAR_DIR": str(tmp_path),
            "LOG_FORMAT": "json",
        },
    ).start()
    try:
        async with httpx.AsyncClient(timeout=2) as http:

            async def ready() -> int:
                try:
                    return (await http.get(f"http://127.0.0.1:{port}/health/ready")).status_code
                except httpx.HTTPError:
                    return 0

            await eventually(ready, lambda code: code == 200, timeout=30)
    finally:
        service.stop()
    lines = service.log().splitlines()
    entries = [orjson.loads(line) for line in lines]  # every line is one JSON object
    assert any("Uvicorn running" in e["msg"] or "startup" in e["msg"] for e in entries)
    assert not any("color_message" in e for e in entries)
    assert "\x1b[" not in service.log()
