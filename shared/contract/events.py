"""The messaging contract: event types, their sources, and the schema of each version of
their data. This is the published language between services, not domain logic: every
rule about what the events *mean* lives in the service that owns it."""

from collections.abc import Iterable
from decimal import Decimal
from typing import Annotated, ClassVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from shared.contract.envelope import CloudEvent, InvalidMessage, new_event, validation_summary

ORDER_PLACED = "OrderPlaced"
STOCK_RESERVED = "StockReserved"
STOCK_REJECTED = "StockRejected"

ORDER_SOURCE = "/order-service"
INVENTORY_SOURCE = "/inventory-service"

# Who may publish what: the producer (a service name, as its signing keys say) allowed to
# publish each event type, and the CloudEvents source each producer writes.
PRODUCER_OF = {ORDER_PLACED: "order", STOCK_RESERVED: "inventory", STOCK_REJECTED: "inventory"}
SOURCE_OF = {"order": ORDER_SOURCE, "inventory": INVENTORY_SOURCE}

MAX_LINES = 100
MAX_QUANTITY = 10_000

SKU_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
Sku = Annotated[str, Field(min_length=1, max_length=64, pattern=SKU_PATTERN)]


class EventData(BaseModel):
    """Base of every event payload. Readers are tolerant: unknown fields are ignored so a
    producer can add optional fields without breaking its consumers.

    A payload class names the event type and the data version it is the schema of, so a
    handler typed by its payload is registered for exactly that (type, version)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    event_type: ClassVar[str]
    version: ClassVar[str] = "1"


class OrderLine(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    sku: Sku = Field(description="The stock-keeping unit.")
    quantity: int = Field(ge=1, le=MAX_QUANTITY)


class OrderPlacedV1(EventData):
    """An order was accepted; it is PENDING until the inventory answers."""

    event_type: ClassVar[str] = ORDER_PLACED

    order_id: UUID = Field(description="The order's id, given by the order service.")
    customer_id: str = Field(min_length=1, max_length=128, description="Who ordered.")
    email: str | None = Field(None, description="Where to tell the customer; None: not given.")
    items: list[OrderLine] = Field(
        min_length=1, max_length=MAX_LINES, description="What was ordered."
    )


# Money travels as a decimal string (never a float): up to 15 digits, at most 4 decimals,
# not negative. A currency is an ISO 4217 code.
MONEY_PATTERN = r"^(0|[1-9][0-9]{0,14})(\.[0-9]{1,4})?$"
Money = Annotated[str, Field(pattern=MONEY_PATTERN, max_length=20)]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]


class PricedOrderLine(OrderLine):
    unit_price: Money | None = Field(
        None, description="The price of one unit, in the order's currency; None: not known."
    )


class OrderPlacedV2(EventData):
    """v1 plus prices, so that downstream services can tell the customer what they pay:
    a unit price per line, and the order's currency and total. A price is None where it is
    not known (an order upcast from v1, a sku the order service has no price for); then
    the total is None too. When the total is given, it is the sum of the lines, in
    `currency`."""

    event_type: ClassVar[str] = ORDER_PLACED
    version: ClassVar[str] = "2"

    order_id: UUID = Field(description="The order's id, given by the order service.")
    customer_id: str = Field(min_length=1, max_length=128, description="Who ordered.")
    email: str | None = Field(None, description="Where to tell the customer; None: not given.")
    items: list[PricedOrderLine] = Field(
        min_length=1, max_length=MAX_LINES, description="What was ordered, at what price."
    )
    currency: Currency | None = Field(
        None, description="The ISO 4217 code of every price and the total; None: not known."
    )
    total: Money | None = Field(
        None, description="What the order costs, the sum of its lines; None: not known."
    )

    @model_validator(mode="after")
    def _total_is_the_sum_of_the_lines(self) -> "OrderPlacedV2":
        if self.total is None:
            return self
        if self.currency is None:
            raise ValueError("a total needs its currency")
        prices = [line.unit_price for line in self.items]
        if any(price is None for price in prices):
            raise ValueError("a total needs the price of every line")
        lines = sum(
            (Decimal(str(line.unit_price)) * line.quantity for line in self.items), Decimal(0)
        )
        if Decimal(self.total) != lines:
            raise ValueError(f"total {self.total} is not the sum of the lines ({lines})")
        return self


class StockReservedV1(EventData):
    """Every line of the order is reserved."""

    event_type: ClassVar[str] = STOCK_RESERVED

    order_id: UUID = Field(description="The order the stock is reserved for.")
    items: list[OrderLine] = Field(description="What is reserved.")


class StockRejectedV1(EventData):
    """Nothing of the order is reserved: a line is short of stock or of an unknown sku."""

    event_type: ClassVar[str] = STOCK_REJECTED

    order_id: UUID = Field(description="The order that is rejected.")
    items: list[OrderLine] = Field(description="What was asked for.")
    reason: str = Field(min_length=1, description="Why, for people to read.")


class EventSchemas:
    """Maps (event type, dataversion) to the model of its data."""

    def __init__(self, models: Iterable[type[EventData]]) -> None:
        self._models = {(model.event_type, model.version): model for model in models}

    def models(self) -> list[type[EventData]]:
        """Every model, by event type then version."""
        return sorted(self._models.values(), key=lambda m: (m.event_type, int(m.version)))

    def knows(self, event_type: str) -> bool:
        return any(known == event_type for known, _ in self._models)

    def model(self, event_type: str, version: str) -> type[EventData] | None:
        return self._models.get((event_type, version))

    def parse(self, event: CloudEvent) -> EventData:
        model = self._models.get((event.type, event.dataversion))
        if model is None:
            raise InvalidMessage(f"no schema for {event.type} dataversion {event.dataversion!r}")
        try:
            return model.model_validate(event.data)
        except ValidationError as exc:
            raise InvalidMessage(
                f"{event.type} v{event.dataversion} data is invalid: {validation_summary(exc)}"
            ) from exc


SCHEMAS = EventSchemas([OrderPlacedV1, OrderPlacedV2, StockReservedV1, StockRejectedV1])


def schema_uri(event_type: str, version: str) -> str:
    """The CloudEvents `dataschema` of (type, version): the producer serves that JSON Schema
    at GET /schemas/{type}/{version}, and docs/schemas/ holds it too."""
    return f"urn:rabbit-orders:schema:{event_type}:{version}"


def event_of(
    data: EventData, *, source: str, cause: CloudEvent | None = None, id: str | None = None
) -> CloudEvent:
    """The event carrying `data`: its type, data version and schema named by the model."""
    return new_event(
        type=data.event_type,
        source=source,
        data=data,
        dataversion=data.version,
        dataschema=schema_uri(data.event_type, data.version),
        cause=cause,
        id=id,
    )
