from fastapi import APIRouter, Request, Response

from shared.telemetry.metrics import CONTENT_TYPE, Metrics

router = APIRouter(tags=["health"])


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"content": {CONTENT_TYPE: {"schema": {"type": "string"}}}, "description": "Metrics"}
    },
)
async def metrics(request: Request) -> Response:
    """Prometheus text format: this process's metrics (see the README's metrics table)."""
    registry: Metrics = request.app.state.metrics
    return Response(registry.exposition(), media_type=CONTENT_TYPE)
