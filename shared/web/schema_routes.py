"""`GET /schemas` and `GET /schemas/{type}/{version}`: the JSON Schema of the data of every
(event type, version) a service produces, the one each of its events names in `dataschema`
(`shared.contract.schemas`). Public, like the events' contract itself."""

from fastapi import APIRouter, HTTPException, status
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from shared.contract.events import schema_uri
from shared.contract.schemas import json_schema, produced_by
from shared.web.errors import error_responses

SCHEMA_MEDIA_TYPE = "application/schema+json"


class SchemaResponse(JSONResponse):
    media_type = SCHEMA_MEDIA_TYPE


class SchemaLink(BaseModel):
    type: str
    version: str
    dataschema: str  # the URI events of this (type, version) carry
    href: str  # where this service serves it


def schema_router(producer: str) -> APIRouter:
    """The routes serving the schemas of what `producer` (a service name) publishes."""
    schemas = {(m.event_type, m.version): json_schema(m) for m in produced_by(producer)}
    links = [
        SchemaLink(
            type=event_type,
            version=version,
            dataschema=schema_uri(event_type, version),
            href=f"/schemas/{event_type}/{version}",
        )
        for event_type, version in schemas
    ]
    router = APIRouter(prefix="/schemas", tags=["schemas"])

    @router.get("", summary="The event schemas this service produces")
    async def list_schemas() -> list[SchemaLink]:
        return links

    @router.get(
        "/{event_type}/{version}",
        summary="The JSON Schema of one event type's data, at one version",
        response_model=None,
        responses={
            200: {
                "description": "A JSON Schema (2020-12)",
                "content": {SCHEMA_MEDIA_TYPE: {"schema": {"type": "object"}}},
            },
            **error_responses(404, 422),
        },
    )
    async def get_schema(event_type: str, version: str) -> Response:
        schema = schemas.get((event_type, version))
        if schema is None:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND,
                f"this service produces no {event_type[:64]!r} version {version[:16]!r}: "
                "GET /schemas lists what it does",
            )
        return SchemaResponse(schema)

    return router
