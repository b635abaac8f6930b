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
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancel
        # that arrives as the wait ends (the wake-up set at that moment), and the loop
        # would then outlive the service's stop, which waits for it.
        with suppress(TimeoutError):
            async with asyncio.timeout(interval):
                await wakeup.wait()
        wakeup.clear()
        try:
            await step()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s failed; retrying in %.1fs", what, interval)
            await asyncio.sleep(interval)
