import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress

log = logging.getLogger(__name__)


async def poll_loop(
    step: Callable[[], Awaitable[None]], wakeup: asyncio.Event, interval: float, what: str
) -> None:
    """Run `step` whenever `wakeup` is set, and at least every `interval` seconds, until
    cancelled. A failing step is logged and tried again later; it never ends the loop."""
    while True:
        with suppress(TimeoutError):
            await asyncio.wait_for(wakeup.wait(), timeout=interval)
        wakeup.clear()
        try:
            await step()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s failed; retrying in %.1fs", what, interval)
            await asyncio.sleep(interval)
