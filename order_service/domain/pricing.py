"""The price list: what each sku costs, in the shop's one currency. A stand-in for a
catalogue service: the prices come from settings (`PRICES`, `CURRENCY`)."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation

from order_service.domain.model import OrderLine


@dataclass(frozen=True)
class PriceList:
    currency: str
    prices: Mapping[str, Decimal]

    def priced(self, lines: Iterable[OrderLine]) -> list[OrderLine]:
        """Each line with its unit price, or None for a sku that is not on the list."""
        return [replace(line, unit_price=self.prices.get(line.sku)) for line in lines]

    @classmethod
    def parse(cls, currency: str, text: str) -> "PriceList":
        """From "SKU-1=9.99,SKU-2=5": a refused entry raises ValueError naming it."""
        prices: dict[str, Decimal] = {}
        for entry in (part.strip() for part in text.split(",")):
            if not entry:
                continue
            sku, _, price = entry.partition("=")
            try:
                value = Decimal(price.strip())
            except InvalidOperation:
                raise ValueError(f"price of {sku.strip()!r} is not a number: {price!r}") from None
            if not value.is_finite() or value < 0 or value.as_tuple().exponent < -4:  # type: ignore[operator]
                raise ValueError(f"price of {sku.strip()!r} must be >= 0 with at most 4 decimals")
            prices[sku.strip()] = value
        return cls(currency, prices)
