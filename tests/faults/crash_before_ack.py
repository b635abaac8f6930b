"""The inventory service, except that it dies (os._exit, like a power cut) right after the
database commit of its Nth batch, before acknowledging it: `CRASH_AFTER_BATCHES=N`.

Test-only: it replaces the consumer's acknowledgement step in this process and nothing
else, so the service under test is otherwise the real one."""

import os
from typing import Any

from inventory_service.config import InventorySettings
from inventory_service.entrypoints.app import create_app
from shared.messaging import processing
from shared.process.serve import serve

_acknowledge = processing._acknowledge
_batches = 0


async def _crash_before_ack(items: Any) -> None:
    global _batches
    _batches += 1
    if _batches >= int(os.environ["CRASH_AFTER_BATCHES"]):
        print(f"crash_before_ack: exiting after committing batch {_batches}", flush=True)
        os._exit(137)
    await _acknowledge(items)


if __name__ == "__main__":
    processing._acknowledge = _crash_before_ack
    serve(InventorySettings(), create_app)
