"""Routes that take a body take JSON: a body sent as anything else is refused with 415
before it is looked at (FastAPI would otherwise hand the raw bytes to validation)."""

from fastapi import HTTPException, Request, status

# What a route with a JSON body can answer besides its own: unparseable, too large, not
# JSON, invalid.
JSON_BODY_ERRORS = (400, 413, 415, 422)


async def require_json(request: Request) -> None:
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type != "application/json" and not (
        media_type.startswith("application/") and media_type.endswith("+json")
    ):
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            detail="send the body as JSON, with Content-Type: application/json",
        )
