"""What the inventory routes may use: stock reads, and a unit of work for commands."""

from typing import Annotated

from fastapi import Depends, Request

from inventory_service.adapters.views import StockViews
from inventory_service.unit_of_work import InventoryUnitOfWork
from shared.core.uow import Transactions


async def get_stock_views(request: Request) -> StockViews:
    views: StockViews = request.app.state.stock_views
    return views


async def get_transactions(request: Request) -> Transactions[InventoryUnitOfWork]:
    transactions: Transactions[InventoryUnitOfWork] = request.app.state.transactions
    return transactions


StockViewsDep = Annotated[StockViews, Depends(get_stock_views)]
UnitOfWorkDep = Annotated[Transactions[InventoryUnitOfWork], Depends(get_transactions)]
