from collections import Counter
from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Response, status
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from order_service import handlers
from order_service.domain.model import Order, OrderLine, OrderStatus
from order_service.entrypoints.deps import IntakeDep, OrderViewsDep, PriceListDep
from shared.contract import events as contracts
from shared.web.admin_auth import require_admin
from shared.web.errors import error_responses
from shared.web.json_body import JSON_BODY_ERRORS, require_json

router = APIRouter(prefix="/orders", tags=["orders"])

# Text without control characters (C0, DEL, C1): a NUL cannot be stored in PostgreSQL, a
# newline or an escape has no place in an id or an address. The patterns say so in the
# OpenAPI document; the validator says it first, in words.
NO_CONTROLS = r"^[^\x00-\x1f\x7f-\x9f]+$"
EMAIL_PATTERN = r"^[^@\s\x00-\x1f\x7f-\x9f]+@[^@\s\x00-\x1f\x7f-\x9f]+\.[^@\s\x00-\x1f\x7f-\x9f]+$"


def _no_control_characters(value: object) -> object:
    if isinstance(value, str):
        for position, char in enumerate(value):
            if char < "\x20" or "\x7f" <= char < "\xa0":
                raise PydanticCustomError(
                    "control_character",
                    "control characters are not allowed (U+{code} at position {position})",
                    {"code": f"{ord(char):04X}", "position": position},
                )
    return value


# The constraints first, so that the JSON schema shows them; the validator runs first.
CustomerId = Annotated[
    str,
    Field(min_length=1, max_length=128, pattern=NO_CONTROLS),
    BeforeValidator(_no_control_characters),
]
Email = Annotated[
    str, Field(max_length=254, pattern=EMAIL_PATTERN), BeforeValidator(_no_control_characters)
]


class OrderLineRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    sku: contracts.Sku
    quantity: int = Field(ge=1, le=contracts.MAX_QUANTITY)


class PlaceOrderRequest(BaseModel):
    """Strict: a quantity is a JSON integer (not "3", true or 1.0)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    customer_id: CustomerId
    email: Email | None = None
    items: list[OrderLineRequest] = Field(
        min_length=1,
        max_length=contracts.MAX_LINES,
        description="1 to 100 lines, each sku on one line at most",
    )

    @field_validator("items")
    @classmethod
    def _one_line_per_sku(cls, items: list[OrderLineRequest]) -> list[OrderLineRequest]:
        repeated = [sku for sku, n in Counter(line.sku for line in items).items() if n > 1]
        if repeated:
            raise PydanticCustomError(
                "duplicate_sku",
                "{skus} on more than one line: give each sku one line, with its whole quantity",
                {"skus": ", ".join(repeated)},
            )
        return items


class OrderResponse(BaseModel):
    id: UUID
    status: OrderStatus
    customer_id: str
    email: str | None
    items: list[contracts.PricedOrderLine]
    currency: str | None
    total: str | None  # when every line has a price
    rejection_reason: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, order: Order) -> "OrderResponse":
        total = order.total
        return cls(
            id=order.id,
            status=order.status,
            customer_id=order.customer_id,
            email=order.email,
            items=[
                contracts.PricedOrderLine(
                    sku=i.sku,
                    quantity=i.quantity,
                    unit_price=None if i.unit_price is None else format(i.unit_price, "f"),
                )
                for i in order.items
            ],
            currency=order.currency,
            total=None if total is None else format(total, "f"),
            rejection_reason=order.rejection_reason,
            created_at=order.created_at,
            updated_at=order.updated_at or order.created_at,
        )


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=OrderResponse,
    dependencies=[Depends(require_json)],
    responses=error_responses(409, *JSON_BODY_ERRORS),
)
async def place_order(
    body: PlaceOrderRequest,
    intake: IntakeDep,
    prices: PriceListDep,
    response: Response,
    idempotency_key: Annotated[str | None, Header(min_length=1, max_length=255)] = None,
) -> OrderResponse:
    command = handlers.PlaceOrder(
        customer_id=body.customer_id,
        email=body.email,
        items=prices.priced(OrderLine(line.sku, line.quantity) for line in body.items),
        idempotency_key=idempotency_key,
        currency=prices.currency,
    )
    try:
        order, created = await intake.submit(command)
    except handlers.IdempotencyConflict as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from exc
    response.headers["Location"] = f"/orders/{order.id}"
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    return OrderResponse.of(order)


@router.get("/{order_id}", response_model=OrderResponse, responses=error_responses(404, 422))
async def get_order(order_id: UUID, views: OrderViewsDep) -> OrderResponse:
    order = await views.get(order_id)
    if order is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"order {order_id} not found")
    return OrderResponse.of(order)


@router.get(
    "",
    response_model=list[OrderResponse],
    dependencies=[Depends(require_admin)],
    responses=error_responses(401, 422),
)
async def list_orders(
    views: OrderViewsDep,
    status: OrderStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[OrderResponse]:
    orders = await views.list(status=status, limit=limit)
    return [OrderResponse.of(order) for order in orders]
