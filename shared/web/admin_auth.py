"""Admin endpoints need `Authorization: Bearer <ADMIN_TOKEN>` when a token is set."""

import secrets
from typing import Annotated

from fastapi import Header, HTTPException, Request, status
from pydantic import SecretStr


async def require_admin(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> None:
    token: SecretStr | None = request.app.state.admin_token
    if token is None:
        return
    scheme, _, credentials = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not secrets.compare_digest(
        credentials.strip().encode(), token.get_secret_value().encode()
    ):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="admin token required",
            headers={"WWW-Authenticate": "Bearer"},
        )
