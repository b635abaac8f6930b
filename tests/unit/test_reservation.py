from inventory_service.domain.model import (
    Line,
    Rejected,
    Reserved,
    StockLevel,
    merge_lines,
    reserve,
)


def stock(*levels: StockLevel) -> dict[str, StockLevel]:
    return {level.sku: level for level in levels}


def test_merge_lines_sums_quantities_of_the_same_sku() -> None:
    merged = merge_lines([Line("A", 2), Line("B", 1), Line("A", 3)])

    assert merged == [Line("A", 5), Line("B", 1)]


def test_merge_lines_returns_one_line_per_sku_in_sku_order() -> None:
    merged = merge_lines([Line("C", 1), Line("A", 1), Line("B", 1)])

    assert [line.sku for line in merged] == ["A", "B", "C"]


def test_merge_lines_of_nothing_is_nothing() -> None:
    assert merge_lines([]) == []


def test_an_order_within_stock_is_reserved_in_full() -> None:
    levels = stock(StockLevel("A", available=10, reserved=1), StockLevel("B", available=5))

    outcome = reserve(levels, [Line("B", 2), Line("A", 3)])

    assert outcome == Reserved(
        lines=[Line("A", 3), Line("B", 2)],
        levels=[StockLevel("A", available=7, reserved=4), StockLevel("B", available=3, reserved=2)],
    )


def test_exact_stock_is_reserved_down_to_zero() -> None:
    outcome = reserve(stock(StockLevel("A", available=4)), [Line("A", 4)])

    assert isinstance(outcome, Reserved)
    assert outcome.levels == [StockLevel("A", available=0, reserved=4)]


def test_reservation_returns_only_the_levels_it_touched() -> None:
    untouched = StockLevel("Z", available=9, reserved=2)
    levels = stock(StockLevel("A", available=5), untouched)

    outcome = reserve(levels, [Line("A", 1)])

    assert isinstance(outcome, Reserved)
    assert [level.sku for level in outcome.levels] == ["A"]
    assert levels["Z"] == untouched
    assert levels["A"] == StockLevel("A", available=5)


def test_duplicate_sku_lines_are_summed_before_checking_stock() -> None:
    levels = stock(StockLevel("A", available=5))

    outcome = reserve(levels, [Line("A", 3), Line("A", 3)])

    assert outcome == Rejected(
        lines=[Line("A", 6)], reason="insufficient stock: A (requested 6, available 5)"
    )


def test_duplicate_sku_lines_within_stock_reserve_their_sum() -> None:
    outcome = reserve(stock(StockLevel("A", available=6)), [Line("A", 2), Line("A", 4)])

    assert outcome == Reserved(lines=[Line("A", 6)], levels=[StockLevel("A", 0, reserved=6)])


def test_an_unknown_sku_rejects_the_whole_order_naming_the_sku() -> None:
    levels = stock(StockLevel("A", available=10))

    outcome = reserve(levels, [Line("A", 1), Line("GHOST", 1)])

    assert isinstance(outcome, Rejected)
    assert outcome.reason == "unknown sku: GHOST"
    assert outcome.lines == [Line("A", 1), Line("GHOST", 1)]


def test_every_unknown_sku_is_named() -> None:
    outcome = reserve(stock(), [Line("Y", 1), Line("X", 1)])

    assert isinstance(outcome, Rejected)
    assert outcome.reason == "unknown sku: X, Y"


def test_short_stock_rejects_naming_sku_requested_and_available() -> None:
    levels = stock(StockLevel("A", available=10), StockLevel("B", available=2, reserved=8))

    outcome = reserve(levels, [Line("A", 1), Line("B", 3)])

    assert isinstance(outcome, Rejected)
    assert outcome.reason == "insufficient stock: B (requested 3, available 2)"


def test_every_short_sku_is_named() -> None:
    levels = stock(StockLevel("A", available=0), StockLevel("B", available=1))

    outcome = reserve(levels, [Line("A", 1), Line("B", 2)])

    assert isinstance(outcome, Rejected)
    assert outcome.reason == (
        "insufficient stock: A (requested 1, available 0); B (requested 2, available 1)"
    )


def test_a_rejection_changes_no_stock_level() -> None:
    levels = stock(StockLevel("A", available=10), StockLevel("B", available=1))
    before = dict(levels)

    outcome = reserve(levels, [Line("A", 5), Line("B", 2)])

    assert isinstance(outcome, Rejected)
    assert levels == before


def test_lines_of_one_sku_over_the_limit_together_are_rejected_as_they_came() -> None:
    levels = stock(StockLevel("A", available=20_000), StockLevel("B", available=5))
    wanted = [Line("A", 6000), Line("B", 1), Line("A", 6000)]

    outcome = reserve(levels, wanted, max_per_sku=10_000)

    assert outcome == Rejected(wanted, "over the limit of 10000 per sku: A (12000 on 2 lines)")


def test_lines_of_one_sku_up_to_the_limit_together_are_reserved_as_one() -> None:
    levels = stock(StockLevel("A", available=20_000))

    outcome = reserve(levels, [Line("A", 6000), Line("A", 4000)], max_per_sku=10_000)

    assert outcome == Reserved([Line("A", 10_000)], [StockLevel("A", 10_000, reserved=10_000)])
