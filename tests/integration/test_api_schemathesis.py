"""Each service's HTTP API answers as its OpenAPI document says, under schemathesis: every
check (no server error, documented status codes, content types, headers and schemas, valid
data accepted and invalid data refused, undocumented methods answered 405 with `Allow`,
the admin token required where the document says so, ...), every phase (the schema's
examples, coverage of each keyword's edges, fuzzing, stateful sequences), with a bounded
number of examples and a fixed seed.

The service runs in this process, started with a real broker and a real database (as
`running` starts one) and served by the same HTTP server configuration as
`python -m <service>` (`shared.process.serve`) on a loopback port; schemathesis runs as its
command line does, against that port, and its report is the assertion message."""

import asyncio
import os
import re
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI

from audit_service.config import AuditSettings
from audit_service.entrypoints.app import create_app as audit_app
from inventory_service.config import InventorySettings
from inventory_service.entrypoints.app import create_app as inventory_app
from notification_service.config import NotificationSettings
from notification_service.entrypoints.app import create_app as notification_app
from order_service.config import OrderSettings
from order_service.entrypoints.app import create_app as order_app
from shared.process.serve import listen, server_config
from shared.process.settings import ServiceSettings
from tests.support.processes import ROOT, clean_environment
from tests.support.services import running

DatabaseUrl = Callable[[str], Awaitable[str]]
TOKEN = "schemathesis-admin-token"
SERVICES: dict[str, tuple[type[ServiceSettings], Callable[[Any], FastAPI]]] = {
    "order": (OrderSettings, order_app),
    "inventory": (InventorySettings, inventory_app),
    "notification": (NotificationSettings, notification_app),
    "audit": (AuditSettings, audit_app),
}
# The audit service reads the others' APIs and forwards its page's orders: here none answers
# (the discard port), which its document says (502).
NOWHERE = "http://127.0.0.1:9"
ALSO = {
    "audit": {
        "order_service_url": NOWHERE,
        "inventory_service_url": NOWHERE,
        "notification_service_url": NOWHERE,
    }
}
MAX_EXAMPLES = 30
RUN_TIMEOUT = 240  # seconds for one service's run; they take well under a minute


@asynccontextmanager
async def serving(app: FastAPI, settings: ServiceSettings) -> AsyncIterator[str]:
    """Serve an app whose runtime is already started on a loopback port, as
    `python -m <service>` would; yields its base URL."""
    sock = listen("127.0.0.1", 0)
    config = server_config(settings, app)
    config.lifespan = "off"  # `running` has started the runtime
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            assert not task.done(), task.exception()
            await asyncio.sleep(0.01)
        host, port = sock.getsockname()
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


async def schemathesis(base_url: str, workdir: Path) -> tuple[int, str]:
    """Run schemathesis against `base_url` (in `workdir`, where it keeps its caches and its
    JUnit report); its exit status and report."""
    command = [
        *(sys.executable, "-m", "schemathesis.cli", "run", f"{base_url}/openapi.json"),
        *("--checks", "all"),
        *("--max-examples", str(MAX_EXAMPLES)),
        *("--seed", "20240501"),
        *("--header", f"Authorization: Bearer {TOKEN}"),
        *("--workers", "1"),
        *("--request-timeout", "10"),
        *("--generation-database", "none"),
        *("--report", "junit", "--report-dir", str(workdir)),
        "--no-color",
    ]
    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=workdir,
        env=clean_environment(
            {"SCHEMATHESIS_HOOKS": "tests.integration.schemathesis_hooks", "PYTHONPATH": str(ROOT)}
        ),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), RUN_TIMEOUT)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return process.returncode, output.decode(errors="replace")


@pytest.mark.parametrize("db_kind", ["postgresql"], indirect=True)
@pytest.mark.parametrize("service", list(SERVICES))
async def test_the_api_answers_as_its_openapi_document_says(
    service: str, broker_url: str, database_url: DatabaseUrl, tmp_path: Path
) -> None:
    settings_class, create_app = SERVICES[service]
    settings = settings_class(
        amqp_url=broker_url,
        database_url=await database_url(service),
        admin_token=TOKEN,
        retry_delays=(0.2,),
        **ALSO.get(service, {}),
    )
    app = create_app(settings)
    operations = sum(len(path) for path in app.openapi()["paths"].values())
    async with running(app), serving(app, settings) as base_url:
        status, report = await schemathesis(base_url, tmp_path)

    if os.environ.get("SCHEMATHESIS_SHOW"):
        print(report)
    assert status == 0, f"schemathesis found failures in the {service} service:\n{report}"
    tested = re.search(r"Tested: (\d+)", report)
    assert tested is not None and int(tested.group(1)) == operations, report
