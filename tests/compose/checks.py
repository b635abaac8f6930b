"""What the compose test checks, in the terms of the contract: stock levels, one
notification per (order, kind), one e-mail per notification sent, nothing dead-lettered."""

import functools
import time
from collections import Counter

import httpx

from tests.compose.clients import Json, Mailpit, Management, get_json
from tests.support.polling import eventually_blocking

EXCHANGES = ("order.events", "inventory.events")
QUEUES = {  # the contract's work queues and the exchange each is bound to
    "inventory.order-events": "order.events",
    "notification.order-events": "order.events",
    "order.inventory-events": "inventory.events",
    "notification.inventory-events": "inventory.events",
}
QUIET = 3.0  # seconds the mailbox is left alone before it is counted


def seed(inventory: httpx.Client, levels: dict[str, int], admin_token: str) -> None:
    """Set stock levels (an admin write: PUT /stock/{sku} with the admin token)."""
    token = {"Authorization": f"Bearer {admin_token}"}
    for sku, available in levels.items():
        response = inventory.put(f"/stock/{sku}", json={"available": available}, headers=token)
        assert response.status_code == 200, response.text
        assert response.json()["available"] == available


def assert_stock(inventory: httpx.Client, levels: dict[str, tuple[int, int]]) -> None:
    for sku, (available, reserved) in levels.items():
        level = get_json(inventory, f"/stock/{sku}")
        assert (level["available"], level["reserved"]) == (available, reserved), level


def assert_one_notification_per_kind(
    notifications: httpx.Client, finals: dict[str, Json], emails: dict[str, str | None]
) -> dict[str, list[Json]]:
    """Wait for each order's notifications to be done with, then check there is one of each
    kind, no more, each `sent` to the order's e-mail address, or `skipped` if it has none.
    Returns them by order."""
    settled = {}
    for order_id, order in finals.items():
        wanted = expected_kinds(order["status"])
        email = emails[order_id]
        outcome = "sent" if email else "skipped"
        found = eventually_blocking(
            functools.partial(get_json, notifications, "/notifications", order_id=order_id),
            functools.partial(done_with, wanted),
            timeout=60,
            what=f"notifications {wanted} for {order_id} {outcome}",
        )
        assert sorted(n["kind"] for n in found) == wanted, (order_id, found)
        assert [n["status"] for n in found] == [outcome] * len(found), (
            f"order {order_id} (e-mail {email!r}): every notification should be {outcome}",
            found,
        )
        if email:
            assert {n["recipient"] for n in found} == {email}, (order_id, found)
        settled[order_id] = found
    return settled


def assert_one_mail_per_sent_notification(
    mailpit: Mailpit, settled: dict[str, list[Json]], emails: dict[str, str | None], sender: str
) -> int:
    """Mailpit holds exactly one message per sent notification, found by its Message-ID
    `<notification id@sender's domain>`, from `sender` to the order's address, and nothing
    else: no copy, nothing for a skipped notification. Returns the number of messages."""
    domain = sender.rpartition("@")[2]
    notified = {
        f"{n['id']}@{domain}": (order_id, n) for order_id, found in settled.items() for n in found
    }
    sent = {i for i, (_, n) in notified.items() if n["status"] == "sent"}

    def missing() -> list[str]:
        absent = sent - {m["MessageID"] for m in mailpit.messages()}
        return sorted(f"{notified[i][1]['kind']} of {notified[i][0]}" for i in absent)

    eventually_blocking(
        missing,
        lambda left: not left,
        timeout=30,
        what=f"a mail in Mailpit for each of {len(sent)} sent notifications (shown: the missing)",
    )
    time.sleep(QUIET)  # a second copy, sent by a competing dispatcher, has arrived by now
    messages = mailpit.messages()
    copies = Counter(m["MessageID"] for m in messages)
    twice = {notified[i][1]["id"]: n for i, n in copies.items() if n > 1 and i in notified}
    assert not twice, f"notifications mailed more than once (id: copies): {twice}"
    skipped = sorted(notified[i][1]["id"] for i in copies if i in notified and i not in sent)
    assert not skipped, f"mail sent for skipped notifications (no e-mail address): {skipped}"
    strays = [m for m in messages if m["MessageID"] not in notified]
    assert not strays, f"mail that is no notification of these orders: {strays}"
    for message in messages:
        order_id, notification = notified[message["MessageID"]]
        to = [address["Address"] for address in message["To"]]
        assert to == [emails[order_id]], f"{notification} mailed to {to}: {message}"
        assert message["From"]["Address"] == sender, f"From is not {sender}: {message}"
        assert order_id in message["Subject"], f"subject of {notification}: {message}"
    assert len(messages) == len(sent)
    return len(messages)


def assert_nothing_dead_lettered(management: Management) -> None:
    dead_letter_queues = [f"{name}.dlq" for name in QUEUES]
    queues = eventually_blocking(  # a queue's message count appears with its first statistics
        management.queues,
        lambda found: all("messages" in found[q] for q in dead_letter_queues),
        timeout=30,
        what="message counts of the dead-letter queues",
    )
    assert {q: queues[q]["messages"] for q in dead_letter_queues} == dict.fromkeys(
        dead_letter_queues, 0
    )


def confirmed_quantity(finals: dict[str, Json], sku: str) -> int:
    return sum(
        line["quantity"]
        for order in finals.values()
        if order["status"] == "CONFIRMED"
        for line in order["items"]
        if line["sku"] == sku
    )


def describe(finals: dict[str, Json]) -> str:
    return ", ".join(
        f"{n} {s}" for s, n in sorted(Counter(o["status"] for o in finals.values()).items())
    )


def done_with(kinds: list[str], found: list[Json]) -> bool:
    """Every one of these kinds of notification is there, and none is pending any more."""
    return set(kinds).issubset(n["kind"] for n in found) and all(
        n["status"] != "pending" for n in found
    )


def describe_notifications(settled: dict[str, list[Json]]) -> str:
    statuses = Counter(n["status"] for found in settled.values() for n in found)
    counts = ", ".join(f"{n} {s}" for s, n in sorted(statuses.items()))
    return f"{statuses.total()} notifications ({counts})"


def count_without(emails: dict[str, str | None]) -> int:
    return sum(1 for email in emails.values() if not email)


def expected_kinds(status: str) -> list[str]:
    return sorted(["order-received", f"order-{status.lower()}"])
