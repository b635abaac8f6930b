"""The inventory service, except that the worker of each of its consumers dies on its first
delivery, outside the batch's own error handling, as a bug in the delivery machinery would
end it: the process stays up, logs "consumer worker died" at CRITICAL, and is not ready.

Test-only: it shows that stopping a system fails on such a line (tests/faults/test_harness.py)."""

from typing import Any

from inventory_service.config import InventorySettings
from inventory_service.entrypoints.app import create_app
from shared.messaging import consumer
from shared.process.serve import serve


def _broken(message: Any) -> bool:
    raise RuntimeError("injected: the consumer worker dies")


if __name__ == "__main__":
    consumer._channel_open = _broken
    serve(InventorySettings(), create_app)
