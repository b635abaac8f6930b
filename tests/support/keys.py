"""The event keys of a test run: one signing key per producer, made once per run, trusted
by every service the tests start (in this process, through the environment the autouse
fixture sets; in a child process, through `settings()`). Tests that play a producer sign
with them; tests that play an attacker do not."""

from collections.abc import Mapping
from typing import Any

from shared.contract.events import PRODUCER_OF
from shared.contract.signing import EventSigner, TrustedKeys

SIGNERS = {
    producer: EventSigner.generate(producer, f"test-{producer}")
    for producer in ("order", "inventory")
}
TRUSTED = TrustedKeys.of(SIGNERS.values())


def settings() -> dict[str, str]:
    """The key settings of a service under test."""
    return {
        "EVENT_SIGNING_KEYS": ",".join(s.secret_text() for s in SIGNERS.values()),
        "EVENT_TRUSTED_KEYS": ",".join(s.public_text() for s in SIGNERS.values()),
    }


def signed(body: bytes, producer: str) -> dict[str, Any]:
    """The headers a genuine `producer` puts on `body`."""
    return SIGNERS[producer].sign(body)


def producer_of(event_type: str) -> str:
    return PRODUCER_OF.get(event_type, "order")


def verify(headers: Mapping[str, Any], body: bytes) -> str:
    return TRUSTED.verify(headers, body)
