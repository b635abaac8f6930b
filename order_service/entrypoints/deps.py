"""What the order routes may use: the intake (orders placed concurrently are stored in one
transaction, see `shared.core.group_commit`) and order reads."""

from typing import Annotated

from fastapi import Depends, Request

from order_service import handlers
from order_service.adapters.views import OrderViews
from order_service.domain.model import Order
from order_service.domain.pricing import PriceList
from order_service.unit_of_work import OrderUnitOfWork
from shared.core.group_commit import GroupCommit

Intake = GroupCommit[handlers.PlaceOrder, tuple[Order, bool], OrderUnitOfWork]


async def get_intake(request: Request) -> Intake:
    intake: Intake = request.app.state.intake
    return intake


async def get_order_views(request: Request) -> OrderViews:
    views: OrderViews = request.app.state.order_views
    return views


async def get_price_list(request: Request) -> PriceList:
    prices: PriceList = request.app.state.price_list
    return prices


IntakeDep = Annotated[Intake, Depends(get_intake)]
PriceListDep = Annotated[PriceList, Depends(get_price_list)]
OrderViewsDep = Annotated[OrderViews, Depends(get_order_views)]
