"""FastAPI dependencies shared by every service's routes."""

from typing import Annotated

from fastapi import Depends, Request

from shared.runtime import Runtime


async def get_runtime(request: Request) -> Runtime:
    # async: FastAPI would run a plain function in its thread pool, on every request.
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
