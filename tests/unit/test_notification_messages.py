from uuid import UUID

import pytest

from notification_service.domain.model import Kind, compose, recipient_for

ORDER_ID = UUID("6f1c2a9e-0a43-4c59-9d0e-6d6a3f0b8a11")


def test_the_recipient_is_the_email_when_there_is_one() -> None:
    assert recipient_for("c-42", "ada@example.com") == "ada@example.com"


@pytest.mark.parametrize("email", [None, ""])
def test_without_an_email_the_recipient_is_the_customer(email: str | None) -> None:
    assert recipient_for("c-42", email) == "customer:c-42"


@pytest.mark.parametrize("kind", list(Kind))
def test_every_kind_has_a_subject_and_body_naming_the_order(kind: Kind) -> None:
    subject, body = compose(kind, ORDER_ID, "out of stock")

    assert str(ORDER_ID) in subject
    assert str(ORDER_ID) in body


def test_each_kind_has_its_own_subject() -> None:
    subjects = {compose(kind, ORDER_ID, "out of stock")[0] for kind in Kind}

    assert len(subjects) == len(Kind)


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        (Kind.ORDER_RECEIVED, "received"),
        (Kind.ORDER_CONFIRMED, "confirmed"),
        (Kind.ORDER_REJECTED, "could not be fulfilled"),
    ],
)
def test_the_subject_says_what_happened(kind: Kind, words: str) -> None:
    subject, _ = compose(kind, ORDER_ID)

    assert words in subject


def test_the_rejected_body_gives_the_reason() -> None:
    _, body = compose(Kind.ORDER_REJECTED, ORDER_ID, "insufficient stock: A")

    assert "insufficient stock: A" in body


def test_a_rejection_without_a_reason_says_so() -> None:
    _, body = compose(Kind.ORDER_REJECTED, ORDER_ID)

    assert "no reason given" in body
