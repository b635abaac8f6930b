from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, status
from pydantic import BaseModel, Field

from inventory_service.adapters.repository import StockRepository
from inventory_service.domain.model import StockLevel
from shared.contracts import Sku
from shared.deps import RuntimeDep

router = APIRouter(prefix="/stock", tags=["stock"])

SkuPath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]


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
async def list_stock(runtime: RuntimeDep) -> list[StockResponse]:
    async with runtime.db.reading() as conn:
        return [StockResponse.of(level) for level in await StockRepository(conn).all()]


@router.get("/{sku}", response_model=StockResponse)
async def get_stock(sku: SkuPath, runtime: RuntimeDep) -> StockResponse:
    async with runtime.db.reading() as conn:
        level = await StockRepository(conn).get(sku)
    if level is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"unknown sku {sku}")
    return StockResponse.of(level)


@router.put("/{sku}", response_model=StockResponse)
async def set_stock(sku: SkuPath, body: SetStockRequest, runtime: RuntimeDep) -> StockResponse:
    """Set the available level of a sku (admin/seeding); what is reserved is unchanged."""
    async with runtime.unit_of_work() as uow:
        level = await StockRepository(uow.conn).set_available(sku, body.available)
    return StockResponse.of(level)
