"""Admin endpoints (admin writes, `/admin/*`, listings of customers' data) need
`Authorization: Bearer <ADMIN_TOKEN>` when a token is set; the scheme word is
case-insensitive. Declared as an HTTP bearer security scheme, so the OpenAPI document says
which operations need it."""

import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr

# auto_error=False: without a token set the endpoints are open, and a wrong or missing
# token gets our own 401 (not FastAPI's 403).
bearer = HTTPBearer(
    auto_error=False,
    scheme_name="AdminToken",
    description="`ADMIN_TOKEN`, required when the service has one set",
)


async def require_admin(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> None:
    token: SecretStr | None = request.app.state.admin_token
    if token is None:
        return
    if credentials is None or not secrets.compare_digest(
        credentials.credentials.encode(), token.get_secret_value().encode()
    ):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="admin token required: send Authorization: Bearer <ADMIN_TOKEN>",
            headers={"WWW-Authenticate": "Bearer"},
        )
