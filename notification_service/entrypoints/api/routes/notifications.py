from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query
from pydantic import BaseModel

from notification_service.domain.model import Kind, Notification, Status
from notification_service.entrypoints.deps import NotificationViewsDep
from shared.web.errors import error_responses

router = APIRouter(prefix="/notifications", tags=["notifications"])


class NotificationResponse(BaseModel):
    id: UUID
    order_id: UUID
    kind: Kind
    recipient: str | None
    status: Status
    created_at: datetime

    @classmethod
    def of(cls, n: Notification) -> "NotificationResponse":
        return cls(
            id=n.id,
            order_id=n.order_id,
            kind=n.kind,
            recipient=n.recipient,
            status=n.status,
            created_at=n.created_at,
        )


@router.get("", response_model=list[NotificationResponse], responses=error_responses(422))
async def list_notifications(
    views: NotificationViewsDep,
    order_id: UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[NotificationResponse]:
    found = await views.list(order_id=order_id, limit=limit)
    return [NotificationResponse.of(n) for n in found]
