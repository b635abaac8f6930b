"""Stock and the reservation rule: an order reserves all of its lines or none of them."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from uuid import UUID


@dataclass(frozen=True, slots=True)
class Line:
    sku: str
    quantity: int


@dataclass(frozen=True, slots=True)
class StockLevel:
    sku: str
    available: int
    reserved: int = 0


@dataclass(frozen=True, slots=True)
class Reserved:
    lines: list[Line]
    levels: list[StockLevel]  # the levels after the reservation


@dataclass(frozen=True, slots=True)
class Rejected:
    lines: list[Line]
    reason: str


@dataclass(frozen=True, slots=True)
class Reservation:
    """What was decided for an order: one per order, whatever the redeliveries."""

    order_id: UUID
    status: str  # RESERVED | REJECTED
    lines: list[Line]
    event_id: str
    reason: str | None = None


def merge_lines(lines: Iterable[Line]) -> list[Line]:
    """One line per sku (quantities summed), in sku order: the order in which rows are
    locked, so that two reservations can never deadlock each other."""
    totals: dict[str, int] = {}
    for line in lines:
        totals[line.sku] = totals.get(line.sku, 0) + line.quantity
    return [Line(sku, totals[sku]) for sku in sorted(totals)]


def reserve(
    levels: Mapping[str, StockLevel], lines: Iterable[Line], *, max_per_sku: int | None = None
) -> Reserved | Rejected:
    """All of the order's lines or none. An order whose lines of one sku add up to more
    than `max_per_sku` is rejected whatever the stock, with its lines as they came (their
    sum could not be reported as one line)."""
    lines = list(lines)
    wanted = merge_lines(lines)
    if max_per_sku is not None:
        over = [
            f"{line.sku} ({line.quantity} on {sum(1 for o in lines if o.sku == line.sku)} lines)"
            for line in wanted
            if line.quantity > max_per_sku
        ]
        if over:
            return Rejected(lines, f"over the limit of {max_per_sku} per sku: {'; '.join(over)}")
    unknown = [line.sku for line in wanted if line.sku not in levels]
    if unknown:
        return Rejected(wanted, f"unknown sku: {', '.join(unknown)}")
    short = [
        f"{line.sku} (requested {line.quantity}, available {levels[line.sku].available})"
        for line in wanted
        if levels[line.sku].available < line.quantity
    ]
    if short:
        return Rejected(wanted, f"insufficient stock: {'; '.join(short)}")
    after = [
        replace(
            levels[line.sku],
            available=levels[line.sku].available - line.quantity,
            reserved=levels[line.sku].reserved + line.quantity,
        )
        for line in wanted
    ]
    return Reserved(wanted, after)
