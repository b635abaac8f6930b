"""What the audit routes may use: the index's views, the live board, the broker's health,
the other services."""

from typing import Annotated

from fastapi import Depends, Request

from audit_service.adapters.health_watch import HealthWatch
from audit_service.adapters.services import Services
from audit_service.adapters.views import AuditViews
from audit_service.entrypoints.live import Board
from audit_service.entrypoints.render import Links


async def get_views(request: Request) -> AuditViews:
    views: AuditViews = request.app.state.audit_views
    return views


async def get_board(request: Request) -> Board:
    board: Board = request.app.state.board
    return board


async def get_health(request: Request) -> HealthWatch:
    health: HealthWatch = request.app.state.health_watch
    return health


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def get_links(request: Request) -> Links:
    links: Links = request.app.state.links
    return links


ViewsDep = Annotated[AuditViews, Depends(get_views)]
BoardDep = Annotated[Board, Depends(get_board)]
HealthDep = Annotated[HealthWatch, Depends(get_health)]
ServicesDep = Annotated[Services, Depends(get_services)]
LinksDep = Annotated[Links, Depends(get_links)]
