"""What the compose test checks, in the terms of the contract: stock levels, one
notification per (order, kind), nothing dead-lettered."""

import functools
from collections import Counter

import httpx

from tests.compose.clients import Json, Management, eventually, get_json

EXCHANGES = ("order.events", "inventory.events")
QUEUES = {  # the contract's work queues and the exchange each is bound to
    "inventory.order-events": "order.events",
    "notification.order-events": "order.events",
    "order.inventory-events": "inventory.events",
    "notification.inventory-events": "inventory.events",
}


def seed(inventory: httpx.Client, levels: dict[str, int]) -> None:
    for sku, available in levels.items():
        response = inventory.put(f"/stock/{sku}", json={"available": available})
        assert response.status_code == 200, response.text
        assert response.json()["available"] == available


def assert_stock(inventory: httpx.Client, levels: dict[str, tuple[int, int]]) -> None:
    for sku, (available, reserved) in levels.items():
        level = get_json(inventory, f"/stock/{sku}")
        assert (level["available"], level["reserved"]) == (available, reserved), level


def assert_one_notification_per_kind(notifications: httpx.Client, finals: dict[str, Json]) -> int:
    """Wait for each order's notifications, then check there is one of each kind, no more."""
    for order_id, order in finals.items():
        wanted = expected_kinds(order["status"])
        kinds = eventually(
            functools.partial(notification_kinds, notifications, order_id),
            set(wanted).issubset,
            timeout=60,
            what=f"notifications {wanted} for {order_id}",
        )
        assert kinds == wanted, (order_id, kinds)
    return 2 * len(finals)


def assert_nothing_dead_lettered(management: Management) -> None:
    dead_letter_queues = [f"{name}.dlq" for name in QUEUES]
    queues = eventually(  # a queue's message count appears with its first statistics
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


def notification_kinds(notifications: httpx.Client, order_id: str) -> list[str]:
    found = get_json(notifications, "/notifications", order_id=order_id)
    return sorted(n["kind"] for n in found)


def expected_kinds(status: str) -> list[str]:
    return sorted(["order-received", f"order-{status.lower()}"])
