from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, status
from pydantic import BaseModel, ConfigDict, Field

from inventory_service import handlers
from inventory_service.domain.model import StockLevel
from inventory_service.entrypoints.deps import StockViewsDep, UnitOfWorkDep
from shared.contract.events import SKU_PATTERN, Sku
from shared.web.admin_auth import require_admin
from shared.web.errors import error_responses
from shared.web.json_body import JSON_BODY_ERRORS, require_json

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
    """Strict: `available` is a JSON integer (not "3", true or 1.0)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    available: int = Field(ge=0, le=2**31 - 1)


@router.get("", response_model=list[StockResponse])
async def list_stock(views: StockViewsDep) -> list[StockResponse]:
    return [StockResponse.of(level) for level in await views.all()]


@router.get("/{sku}", response_model=StockResponse, responses=error_responses(404, 422))
async def get_stock(sku: SkuPath, views: StockViewsDep) -> StockResponse:
    level = await views.get(sku)
    if level is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"unknown sku {sku}")
    return StockResponse.of(level)


@router.put(
    "/{sku}",
    response_model=StockResponse,
    dependencies=[Depends(require_admin), Depends(require_json)],
    responses=error_responses(401, *JSON_BODY_ERRORS),
)
async def set_stock(sku: SkuPath, body: SetStockRequest, uow: UnitOfWorkDep) -> StockResponse:
    """Set the available level of a sku (admin/seeding); what is reserved is unchanged."""
    command = handlers.SetStock(sku, body.available)
    level = await uow(lambda u: handlers.set_stock(command, u))
    return StockResponse.of(level)
