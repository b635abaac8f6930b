from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, status
from pydantic import BaseModel, Field

from inventory_service import handlers
from inventory_service.domain.model import StockLevel
from inventory_service.entrypoints.deps import StockViewsDep, UnitOfWorkDep
from shared.contract.events import SKU_PATTERN, Sku

router = APIRouter(prefix="/stock", tags=["stock"])

SkuPath = Annotated[str, Path(min_length=1, max_length=64, pattern=SKU_PATTERN)]


class StockResponse(BaseModel):
    sku: Sku
    available: int
    reserved: int

    @classmethod
    def of(cls, level: StockLevel) -> "StockResponse":
        return cls(sku=level.sku, available=level.available, reserved=level.reserved)


class SetStockRequest(BaseModel):
    available: int = Field(ge=0, le=2**31 - 1)


@router.get("", response_model=list[StockResponse])
async def list_stock(views: StockViewsDep) -> list[StockResponse]:
    return [StockResponse.of(level) for level in await views.all()]


@router.get("/{sku}", response_model=StockResponse)
async def get_stock(sku: SkuPath, views: StockViewsDep) -> StockResponse:
    level = await views.get(sku)
    if level is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"unknown sku {sku}")
    return StockResponse.of(level)


@router.put("/{sku}", response_model=StockResponse)
async def set_stock(sku: SkuPath, body: SetStockRequest, uow: UnitOfWorkDep) -> StockResponse:
    """Set the available level of a sku (admin/seeding); what is reserved is unchanged."""
    command = handlers.SetStock(sku, body.available)
    level = await uow(lambda u: handlers.set_stock(command, u))
    return StockResponse.of(level)
