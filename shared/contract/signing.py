"""Authenticated events: every event is signed by the service that produces it, and a
consumer applies it only when the signature proves it came from the service allowed to
publish its type.

Ed25519 signatures (libsodium, through PyNaCl) over the exact body bytes, carried in two
AMQP headers: the signature and the id of the key that made it. Asymmetric on purpose: a
consumer holds only public keys, so a compromised consumer (or a leaked consumer
configuration) cannot forge another service's events, which per-producer HMAC keys would
allow. The signature is made once, when the event is staged in the outbox, and travels
unchanged through retries, dead-lettering and replay (the body never changes).

Keys are written as text, so they fit in settings and `.env` files:
- a signing key: `<producer>:<key id>:<base64 seed>` (secret: never logged);
- trusted keys: `<producer>:<key id>:<base64 public key>`, comma-separated. A consumer
  trusts a *set* of keys per producer, so a new key is rolled out without downtime: trust
  it everywhere, switch the producer to it, then drop the old one.
"""

import base64
import binascii
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey as NaclSigningKey
from nacl.signing import VerifyKey

from shared.contract import headers as h
from shared.contract.envelope import CloudEvent, InvalidMessage
from shared.contract.events import PRODUCER_OF, SOURCE_OF

_KEY_ID_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")


class Untrusted(InvalidMessage):
    """The message cannot be proven to come from a producer allowed to publish it: it is
    dead-lettered at once, whatever it says."""


class Verifier(Protocol):
    def verify(self, headers: Mapping[str, Any], body: bytes) -> str:
        """The producer whose key signed `body`; raises `Untrusted` saying why not."""
        ...


def authorize(producer: str, event: CloudEvent) -> None:
    """Raise `Untrusted` unless `producer` may publish `event` (its type and its source)."""
    allowed = PRODUCER_OF.get(event.type)
    if allowed is None:
        raise Untrusted(f"producer not allowed: no producer may publish {event.type!r}")
    if producer != allowed:
        raise Untrusted(
            f"producer not allowed: {producer!r} may not publish {event.type} "
            f"(only {allowed!r} may)"
        )
    if event.source != SOURCE_OF[producer]:
        raise Untrusted(
            f"producer not allowed: {producer!r} signed an event whose source is "
            f"{event.source[:100]!r}, not {SOURCE_OF[producer]!r}"
        )


@dataclass(frozen=True)
class EventSigner:
    producer: str
    key_id: str
    _key: NaclSigningKey

    def sign(self, body: bytes) -> dict[str, str]:
        """The headers that authenticate `body`."""
        signature = self._key.sign(body).signature
        return {h.SIGNATURE: base64.b64encode(signature).decode(), h.SIGNATURE_KEY: self.key_id}

    def public_text(self) -> str:
        public = base64.b64encode(bytes(self._key.verify_key)).decode()
        return f"{self.producer}:{self.key_id}:{public}"

    def __repr__(self) -> str:  # never the secret, wherever it is printed
        return f"EventSigner(producer={self.producer!r}, key_id={self.key_id!r})"

    @classmethod
    def generate(cls, producer: str, key_id: str) -> "EventSigner":
        _check_names(producer, key_id)
        return cls(producer, key_id, NaclSigningKey.generate())

    @classmethod
    def parse(cls, text: str) -> "EventSigner":
        producer, key_id, seed = _split(text, "signing key")
        try:
            return cls(producer, key_id, NaclSigningKey(base64.b64decode(seed, validate=True)))
        except (binascii.Error, ValueError, TypeError):
            raise ValueError(f"signing key {key_id!r}: not a base64 Ed25519 seed") from None

    def secret_text(self) -> str:
        seed = base64.b64encode(bytes(self._key)).decode()
        return f"{self.producer}:{self.key_id}:{seed}"


class TrustedKeys:
    """The public keys a consumer accepts, each belonging to one producer."""

    def __init__(self, keys: Mapping[str, tuple[str, VerifyKey]]) -> None:
        self._keys = dict(keys)

    @classmethod
    def parse(cls, text: str) -> "TrustedKeys":
        keys: dict[str, tuple[str, VerifyKey]] = {}
        for item in (part.strip() for part in text.split(",")):
            if not item:
                continue
            producer, key_id, public = _split(item, "trusted key")
            if key_id in keys:
                raise ValueError(f"trusted key id {key_id!r} is given twice")
            try:
                keys[key_id] = (producer, VerifyKey(base64.b64decode(public, validate=True)))
            except (binascii.Error, ValueError, TypeError):
                raise ValueError(f"trusted key {key_id!r}: not a base64 Ed25519 key") from None
        return cls(keys)

    @classmethod
    def of(cls, signers: Iterable[EventSigner]) -> "TrustedKeys":
        return cls.parse(",".join(s.public_text() for s in signers))

    def __len__(self) -> int:
        return len(self._keys)

    def producers(self) -> dict[str, list[str]]:
        """Key ids by producer (for logs: public information only)."""
        found: dict[str, list[str]] = {}
        for key_id, (producer, _) in sorted(self._keys.items()):
            found.setdefault(producer, []).append(key_id)
        return found

    def verify(self, headers: Mapping[str, Any], body: bytes) -> str:
        """The producer whose key signed `body`; raises `Untrusted` saying why not."""
        signature, key_id = headers.get(h.SIGNATURE), headers.get(h.SIGNATURE_KEY)
        if signature is None and key_id is None:
            raise Untrusted("unsigned: the message has no signature")
        if not isinstance(key_id, str | bytes) or not isinstance(signature, str | bytes):
            raise Untrusted("unsigned: signature or key id missing or not text")
        key_name = key_id.decode(errors="replace") if isinstance(key_id, bytes) else key_id
        known = self._keys.get(key_name)
        if known is None:
            raise Untrusted(f"unknown key: {key_name[:64]!r} is not a trusted key")
        producer, verify_key = known
        try:
            verify_key.verify(body, base64.b64decode(signature, validate=True))
        except (BadSignatureError, binascii.Error, ValueError, TypeError):
            raise Untrusted(f"bad signature: the body does not match key {key_name!r}") from None
        return producer


def _split(text: str, what: str) -> tuple[str, str, str]:
    parts = text.strip().split(":")
    if len(parts) != 3 or not all(parts):
        raise ValueError(f"a {what} is written <producer>:<key id>:<base64 key>")
    producer, key_id, key = parts
    _check_names(producer, key_id)
    return producer, key_id, key


def _check_names(producer: str, key_id: str) -> None:
    for name, value in (("producer", producer), ("key id", key_id)):
        if not value or len(value) > 64 or not set(value) <= _KEY_ID_CHARS:
            raise ValueError(f"{name} {value!r}: use 1 to 64 letters, digits, '.', '_' or '-'")
