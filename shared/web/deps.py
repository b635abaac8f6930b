"""Narrow FastAPI dependencies: a route asks for the one thing it uses, which the app
factory put on `app.state`, never for the whole runtime."""

from typing import Annotated

from fastapi import Depends, Request

from shared.messaging.dead_letters import DeadLetterDesk


async def get_dead_letters(request: Request) -> DeadLetterDesk:
    # async: FastAPI would run a plain function in its thread pool, on every request.
    desk: DeadLetterDesk = request.app.state.dead_letters
    return desk


DeadLettersDep = Annotated[DeadLetterDesk, Depends(get_dead_letters)]
