from typing import ClassVar

from pydantic import Field

from shared.process.settings import ServiceSettings


class OrderSettings(ServiceSettings):
    service_name: ClassVar[str] = "order"
    default_port: ClassVar[int] = 8000

    # The price list ("SKU-1=9.99,SKU-2=5"; a sku not on it has no price) and its currency.
    prices: str = ""
    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")
    # The OrderPlaced data version published: 2 (with prices) by default; 1 for the window
    # of a rolling upgrade in which consumers that know only v1 still run.
    order_placed_version: int = Field(default=2, ge=1, le=2)
