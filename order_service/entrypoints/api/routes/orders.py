from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Header, HTTPException, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field

from order_service import handlers
from order_service.domain.model import Order, OrderLine, OrderStatus
from order_service.entrypoints.deps import IntakeDep, OrderViewsDep
from shared.contract import events as contracts

router = APIRouter(prefix="/orders", tags=["orders"])

EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


class PlaceOrderRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_id: str = Field(min_length=1, max_length=128)
    email: str | None = Field(default=None, max_length=254, pattern=EMAIL_PATTERN)
    items: list[contracts.OrderLine] = Field(min_length=1, max_length=contracts.MAX_LINES)


class OrderResponse(BaseModel):
    id: UUID
    status: OrderStatus
    customer_id: str
    email: str | None
    items: list[contracts.OrderLine]
    rejection_reason: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, order: Order) -> "OrderResponse":
        return cls(
            id=order.id,
            status=order.status,
            customer_id=order.customer_id,
            email=order.email,
            items=[contracts.OrderLine(sku=i.sku, quantity=i.quantity) for i in order.items],
            rejection_reason=order.rejection_reason,
            created_at=order.created_at,
            updated_at=order.updated_at or order.created_at,
        )


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=OrderResponse)
async def place_order(
    body: PlaceOrderRequest,
    intake: IntakeDep,
    response: Response,
    idempotency_key: Annotated[str | None, Header(min_length=1, max_length=255)] = None,
) -> OrderResponse:
    command = handlers.PlaceOrder(
        customer_id=body.customer_id,
        email=body.email,
        items=[OrderLine(line.sku, line.quantity) for line in body.items],
        idempotency_key=idempotency_key,
    )
    try:
        order, created = await intake.submit(command)
    except handlers.IdempotencyConflict as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from exc
    response.headers["Location"] = f"/orders/{order.id}"
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    return OrderResponse.of(order)


@router.get("/{order_id}", response_model=OrderResponse)
async def get_order(order_id: UUID, views: OrderViewsDep) -> OrderResponse:
    order = await views.get(order_id)
    if order is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"order {order_id} not found")
    return OrderResponse.of(order)


@router.get("", response_model=list[OrderResponse])
async def list_orders(
    views: OrderViewsDep,
    status: OrderStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[OrderResponse]:
    orders = await views.list(status=status, limit=limit)
    return [OrderResponse.of(order) for order in orders]
