"""One shape for every client error: `{"message": "..."}`, and for a 422 the fields that
failed in `detail`, whoever raised it (a route, a dependency, Starlette's router for an
unknown path or method, the body limit); and the OpenAPI entries that document them."""

import re
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException

DESCRIPTIONS = {
    400: "The body could not be parsed (nested too deeply, say)",
    401: "Admin token missing or wrong (`Authorization: Bearer $ADMIN_TOKEN`)",
    404: "No such resource",
    409: "Conflict with the resource's state",
    413: "Body larger than `MAX_BODY_BYTES`",
    415: "Body not sent as JSON (`Content-Type: application/json`)",
    422: "Invalid request: `message` says what is wrong, `detail` lists each field",
    503: "A dependency (the broker, the database) is unavailable for now",
}


class ErrorBody(BaseModel):
    message: str


class FieldError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ValidationErrorBody(ErrorBody):
    detail: list[FieldError]


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` for the client and availability errors a route can answer."""
    return {
        code: {
            "model": ValidationErrorBody if code == 422 else ErrorBody,
            "description": DESCRIPTIONS[code],
        }
        for code in codes
    }


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code in (204, 304):  # no body allowed
        return Response(status_code=exc.status_code, headers=exc.headers)
    message = str(exc.detail)
    headers = dict(exc.headers or {})
    if exc.status_code == 400 and isinstance(exc.__cause__, RecursionError):
        message = "the JSON body is nested too deeply"
    if exc.status_code == 405:
        headers["Allow"] = _allowed_methods(request)
    return JSONResponse({"message": message}, status_code=exc.status_code, headers=headers)


HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def _allowed_methods(request: Request) -> str:
    """The methods the OpenAPI document gives the request's path (Starlette's own 405 names
    those of the first route that has the path, not of all). Of the path templates that
    match, the most literal ones: `/{queue}/purge`, not `/{queue}/{message_id}`."""
    path = request.scope["path"]
    matching = [
        (template.count("{"), operations)
        for template, operations in request.app.openapi()["paths"].items()
        if _template_pattern(template).fullmatch(path)
    ]
    fewest = min((params for params, _ in matching), default=0)
    methods = {
        method.upper()
        for params, operations in matching
        if params == fewest
        for method in operations
        if method in HTTP_METHODS
    }
    return ", ".join(sorted(methods))


def _template_pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^/}]+\})", template)
    return re.compile("".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts))


async def validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors: list[dict[str, Any]] = [
        {k: v for k, v in error.items() if k in ("loc", "msg", "type")} for error in exc.errors()
    ]
    summary = "; ".join(
        f"{'.'.join(str(p) for p in error['loc'] if p != 'body') or 'body'}: {error['msg']}"
        for error in errors
    )
    return JSONResponse(
        {"message": f"invalid request: {summary}", "detail": errors}, status_code=422
    )
