"""FastAPI dependencies shared by every service's routes."""

from typing import Annotated

from fastapi import Depends, Request

from shared.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
