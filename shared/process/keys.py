"""Where a service's event keys come from (see `shared.contract.signing`).

In production (compose) from settings: `EVENT_SIGNING_KEYS` and `EVENT_TRUSTED_KEYS`.
With neither set (a fresh clone, `make run`, `python -m <service>`), from a local key
directory, `<var_dir>/keys`: each service makes its own key there on first start
(`<service>.key`, readable by its owner only, and `<service>.pub`) and trusts every
`*.pub` in it; a key id it does not know yet makes it look at the directory again, so
services started in any order trust each other. Development only: anyone who can write
to that directory can add a trusted key.

    python -m shared.process.keys order inventory     # new keys, as .env lines
"""

import os
import sys
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shared.contract.signing import EventSigner, TrustedKeys, Untrusted, Verifier
from shared.process.settings import ServiceSettings

RESCAN_INTERVAL_SECONDS = 1.0


def signer_for(settings: ServiceSettings) -> EventSigner:
    producer = settings.service_name
    if settings.event_signing_keys is None:
        return _local_signer(Path(settings.var_dir) / "keys", producer)
    signers = [
        EventSigner.parse(text)
        for text in settings.event_signing_keys.get_secret_value().split(",")
        if text.strip()
    ]
    mine = [s for s in signers if s.producer == producer]
    if len(mine) != 1:
        raise ValueError(
            f"EVENT_SIGNING_KEYS must hold exactly one key for producer {producer!r} "
            f"(found {len(mine)})"
        )
    return mine[0]


def verifier_for(settings: ServiceSettings) -> Verifier:
    if settings.event_trusted_keys is not None:
        return TrustedKeys.parse(settings.event_trusted_keys)
    if settings.event_signing_keys is not None:
        raise ValueError("EVENT_SIGNING_KEYS is set but EVENT_TRUSTED_KEYS is not")
    return LocalKeyDirectory(Path(settings.var_dir) / "keys")


def ensure_local_keys(directory: Path, producers: list[str]) -> None:
    for producer in producers:
        _local_signer(directory, producer)


def _local_signer(directory: Path, producer: str) -> EventSigner:
    directory.mkdir(parents=True, exist_ok=True)
    secret = directory / f"{producer}.key"
    if secret.exists():
        return EventSigner.parse(secret.read_text())
    signer = EventSigner.generate(producer, f"{producer}-local-{os.urandom(4).hex()}")
    # Written under a temporary name and renamed: two processes starting at once never
    # read half a key, and the last one to rename wins for both files consistently.
    tmp = directory / f".{producer}.{os.getpid()}.{threading.get_ident()}"
    fd = os.open(f"{tmp}.key", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(signer.secret_text())
    Path(f"{tmp}.pub").write_text(signer.public_text())
    if secret.exists():  # another process won the race: use its key
        os.unlink(f"{tmp}.key")
        os.unlink(f"{tmp}.pub")
        return EventSigner.parse(secret.read_text())
    os.replace(f"{tmp}.pub", directory / f"{producer}.pub")
    os.replace(f"{tmp}.key", secret)
    return signer


class LocalKeyDirectory:
    """Trusts the `*.pub` files of a local key directory (development mode)."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._trusted = TrustedKeys({})
        self._scanned_at = 0.0
        self._lock = threading.Lock()
        self._scan()

    def verify(self, headers: Mapping[str, Any], body: bytes) -> str:
        try:
            return self._trusted.verify(headers, body)
        except Untrusted as exc:
            if not str(exc).startswith("unknown key") or not self._scan():
                raise
            return self._trusted.verify(headers, body)

    def _scan(self) -> bool:
        """Read the directory again (at most once a second); True if it was read."""
        with self._lock:
            now = time.monotonic()
            if now - self._scanned_at < RESCAN_INTERVAL_SECONDS and self._scanned_at:
                return False
            self._scanned_at = now
            texts = (
                [p.read_text().strip() for p in sorted(self._directory.glob("*.pub"))]
                if self._directory.is_dir()
                else []
            )
            self._trusted = TrustedKeys.parse(",".join(texts))
            return True


def main(argv: list[str]) -> int:
    producers = argv or ["order", "inventory"]
    stamp = datetime.now(UTC).strftime("%Y%m%d")
    signers = [EventSigner.generate(p, f"{p}-{stamp}-{os.urandom(3).hex()}") for p in producers]
    sys.stdout.write(
        "# Event keys made by `python -m shared.process.keys`: give each service only its own\n"
        "# signing key; every consumer gets all the public ones.\n"
    )
    for signer in signers:
        name = f"{signer.producer.upper()}_EVENT_SIGNING_KEY"
        sys.stdout.write(f"{name}={signer.secret_text()}\n")
    sys.stdout.write(f"EVENT_TRUSTED_KEYS={','.join(s.public_text() for s in signers)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
