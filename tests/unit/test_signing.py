import base64

import pytest

from shared.contract import headers as h
from shared.contract.signing import EventSigner, TrustedKeys, Untrusted

BODY = b'{"specversion":"1.0","id":"e-1","type":"OrderPlaced"}'


@pytest.fixture
def order() -> EventSigner:
    return EventSigner.generate("order", "order-2026")


@pytest.fixture
def inventory() -> EventSigner:
    return EventSigner.generate("inventory", "inventory-2026")


def test_a_signed_body_is_attributed_to_the_producer_of_the_key(
    order: EventSigner, inventory: EventSigner
) -> None:
    trusted = TrustedKeys.of([order, inventory])

    assert trusted.verify(order.sign(BODY), BODY) == "order"
    assert trusted.verify(inventory.sign(BODY), BODY) == "inventory"


def test_an_unsigned_message_is_untrusted(order: EventSigner) -> None:
    with pytest.raises(Untrusted, match=r"^unsigned"):
        TrustedKeys.of([order]).verify({}, BODY)


def test_a_key_nobody_trusts_is_untrusted(order: EventSigner) -> None:
    stranger = EventSigner.generate("order", "stolen-name")

    with pytest.raises(Untrusted, match=r"^unknown key"):
        TrustedKeys.of([order]).verify(stranger.sign(BODY), BODY)


def test_a_key_id_claimed_by_another_key_is_a_bad_signature(order: EventSigner) -> None:
    impostor = EventSigner.generate("order", order.key_id)  # same id, another secret

    with pytest.raises(Untrusted, match=r"^bad signature"):
        TrustedKeys.of([order]).verify(impostor.sign(BODY), BODY)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda body: body.replace(b"e-1", b"e-2"),
        lambda body: body + b" ",
        lambda body: b"",
    ],
    ids=["changed", "appended", "emptied"],
)
def test_a_tampered_body_is_a_bad_signature(order: EventSigner, tamper) -> None:  # type: ignore[no-untyped-def]
    headers = order.sign(BODY)

    with pytest.raises(Untrusted, match=r"^bad signature"):
        TrustedKeys.of([order]).verify(headers, tamper(BODY))


@pytest.mark.parametrize(
    "signature",
    ["not base64!", base64.b64encode(b"short").decode(), 42, None],
    ids=["not-base64", "too-short", "a-number", "missing"],
)
def test_a_malformed_signature_is_refused_not_crashed_on(
    order: EventSigner, signature: object
) -> None:
    headers = {h.SIGNATURE_KEY: order.key_id, h.SIGNATURE: signature}

    with pytest.raises(Untrusted):
        TrustedKeys.of([order]).verify(headers, BODY)


def test_keys_round_trip_through_their_text_form(order: EventSigner) -> None:
    again = EventSigner.parse(order.secret_text())
    trusted = TrustedKeys.parse(order.public_text())

    assert trusted.verify(again.sign(BODY), BODY) == "order"
    assert trusted.producers() == {"order": ["order-2026"]}


def test_a_producer_may_have_several_trusted_keys_during_a_rotation(order: EventSigner) -> None:
    rotated = EventSigner.generate("order", "order-2027")
    trusted = TrustedKeys.of([order, rotated])

    assert trusted.verify(order.sign(BODY), BODY) == "order"
    assert trusted.verify(rotated.sign(BODY), BODY) == "order"
    assert trusted.producers() == {"order": ["order-2026", "order-2027"]}


def test_the_secret_never_shows_in_the_signer_repr(order: EventSigner) -> None:
    assert order.secret_text().rsplit(":", 1)[1] not in repr(order)


@pytest.mark.parametrize(
    "text",
    ["order", "order:k1", "order:k1:not base64", "ord er:k1:AAAA", "order::AAAA", ":k1:AAAA"],
)
def test_malformed_key_text_is_refused_with_a_reason(text: str) -> None:
    with pytest.raises(ValueError):
        EventSigner.parse(text)
    with pytest.raises(ValueError):
        TrustedKeys.parse(text)


def test_a_key_id_given_twice_is_refused(order: EventSigner) -> None:
    with pytest.raises(ValueError, match="twice"):
        TrustedKeys.parse(f"{order.public_text()},{order.public_text()}")
