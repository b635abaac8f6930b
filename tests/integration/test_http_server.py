"""The HTTP server as `python -m <service>` configures it (shared.process.serve), on a real
socket, against clients that hold on without sending a request: a connection that says
nothing, one that sends its headers a byte at a time, one idle after its answer, one with
headers too large, one too many, one sending its body slowly, one framing its body two
ways; and bodies too large through the real server. The app is the shared web stack
(errors, body limit) with one route; no broker is needed."""

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import ClassVar

import orjson
import pytest
import uvicorn
from fastapi import APIRouter, FastAPI
from pydantic import BaseModel

from shared.process.serve import listen, server_config
from shared.process.settings import ServiceSettings
from shared.web.app import create_service_app

READ_TIMEOUT = 1.0
KEEP_ALIVE = 1
MAX_CONNECTIONS = 4
MAX_BODY = 2048
MAX_HEAD = 4096


class ServerSettings(ServiceSettings):
    service_name: ClassVar[str] = "server-test"
    default_port: ClassVar[int] = 1


class Host:
    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def readiness(self) -> dict[str, bool]:
        return {"ready": True}


class Echo(BaseModel):
    text: str


router = APIRouter()


@router.post("/echo")
async def echo(body: Echo) -> Echo:
    return body


@router.get("/slow")
async def slow() -> dict[str, str]:
    await asyncio.sleep(3 * READ_TIMEOUT)
    return {"status": "done"}


def app(settings: ServiceSettings) -> FastAPI:
    return create_service_app(
        Host(), [router], title="server test", max_body_bytes=settings.max_body_bytes
    )


@pytest.fixture
async def address() -> AsyncIterator[tuple[str, int]]:
    settings = ServerSettings(
        http_read_timeout=READ_TIMEOUT,
        http_keep_alive_timeout=KEEP_ALIVE,
        http_max_header_bytes=MAX_HEAD,
        http_max_connections=MAX_CONNECTIONS,
        max_body_bytes=MAX_BODY,
    )
    sock = listen("127.0.0.1", 0)
    server = uvicorn.Server(server_config(settings, app(settings)))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            assert not task.done(), task.exception()
            await asyncio.sleep(0.01)
        yield sock.getsockname()
    finally:
        server.should_exit = True
        await task
        sock.close()


async def connect(address: tuple[str, int]) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(*address)


async def seconds_until_closed(reader: asyncio.StreamReader, limit: float = 10.0) -> float:
    """How long the server keeps the connection before it closes it (reading whatever it
    sends meanwhile); fails if it is still open after `limit` seconds."""
    started = time.monotonic()
    await asyncio.wait_for(reader.read(), limit)
    return time.monotonic() - started


async def seconds_held_while_trickling(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, piece: Callable[[int], str]
) -> float:
    """`seconds_until_closed` while the client sends `piece(n)` every 0.1 s for 10 s, far
    past the read timeout."""

    async def trickle() -> None:
        for n in range(100):
            writer.write(piece(n).encode())
            await asyncio.sleep(0.1)

    trickling = asyncio.create_task(trickle())
    try:
        return await seconds_until_closed(reader)
    finally:
        trickling.cancel()


def request(method: str, path: str, body: bytes = b"", **headers: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: test"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    if body and "transfer_encoding" not in headers and "content_length" not in headers:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = (await reader.readuntil(b"\r\n\r\n")).decode()
    status_line, *header_lines = head.strip().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return int(status_line.split()[1]), headers, body


async def test_a_connection_that_sends_nothing_is_closed_after_the_read_timeout(
    address: tuple[str, int],
) -> None:
    reader, writer = await connect(address)

    held = await seconds_until_closed(reader)

    assert READ_TIMEOUT * 0.8 <= held < READ_TIMEOUT + 1
    writer.close()


async def test_a_connection_sending_its_headers_slowly_is_closed_after_the_read_timeout(
    address: tuple[str, int],
) -> None:
    reader, writer = await connect(address)
    writer.write(b"GET /health/live HTTP/1.1\r\nHost: test\r\n")

    held = await seconds_held_while_trickling(reader, writer, lambda n: f"X-Slow-{n}: a\r\n")

    assert held < READ_TIMEOUT + 1
    writer.close()


async def test_a_connection_idle_after_its_answer_is_closed_after_the_keep_alive(
    address: tuple[str, int],
) -> None:
    reader, writer = await connect(address)
    writer.write(request("GET", "/health/live"))
    status, _, _ = await response(reader)
    assert status == 200

    held = await seconds_until_closed(reader)

    assert held < KEEP_ALIVE + 1
    writer.close()


async def test_a_slow_answer_is_not_cut_by_the_read_timeout(address: tuple[str, int]) -> None:
    reader, writer = await connect(address)
    writer.write(request("GET", "/slow"))

    status, _, body = await asyncio.wait_for(response(reader), 3 * READ_TIMEOUT + 5)

    assert (status, orjson.loads(body)) == (200, {"status": "done"})
    writer.write(request("GET", "/health/live"))  # and the connection serves another
    assert (await response(reader))[0] == 200
    writer.close()


async def test_headers_growing_past_the_limit_get_431_and_the_connection_is_closed(
    address: tuple[str, int],
) -> None:
    """The server holds an unfinished request line and headers up to the limit, no more."""
    reader, writer = await connect(address)
    writer.write(b"GET /health/live HTTP/1.1\r\nHost: test\r\nX-Big: " + b"a" * 8000)

    status, _, body = await response(reader)

    assert status == 431
    assert body == f"request line and headers larger than {MAX_HEAD} bytes".encode()
    assert await seconds_until_closed(reader) < 1
    writer.close()


async def test_headers_past_the_limit_in_one_piece_get_431(address: tuple[str, int]) -> None:
    reader, writer = await connect(address)
    writer.write(request("GET", "/health/live", x_big="a" * (MAX_HEAD + 100)))

    status, _, _ = await response(reader)

    assert status == 431
    assert await seconds_until_closed(reader) < 1
    writer.close()


async def test_headers_within_the_limit_are_served_with_their_body_and_the_next_request(
    address: tuple[str, int],
) -> None:
    """Requests sent in one piece (pipelined), each with headers just under the limit."""
    reader, writer = await connect(address)
    padding = "a" * (MAX_HEAD - 300)
    body = orjson.dumps({"text": "hello"})
    one = request("POST", "/echo", body, content_type="application/json", x_pad=padding)
    writer.write(one + one)

    for _ in range(2):
        status, _, answer = await response(reader)
        assert (status, orjson.loads(answer)) == (200, {"text": "hello"})
    writer.close()


async def test_a_pipelined_request_waiting_for_its_turn_is_not_cut_by_the_read_timeout(
    address: tuple[str, int],
) -> None:
    """The server reads nothing more while a pipelined request waits for the answer before
    it: the wait is the server's, not the client's."""
    reader, writer = await connect(address)
    body = orjson.dumps({"text": "after the slow one"})
    second = request("POST", "/echo", body, content_type="application/json")
    head, _, _ = second.partition(b"\r\n\r\n")
    writer.write(request("GET", "/slow") + head + b"\r\n\r\n")
    await asyncio.sleep(0.2)
    writer.write(body)  # arrives while the server has stopped reading

    first_status, _, _ = await asyncio.wait_for(response(reader), 3 * READ_TIMEOUT + 5)
    second_status, _, answer = await asyncio.wait_for(response(reader), 5)

    assert (first_status, second_status) == (200, 200)
    assert orjson.loads(answer) == {"text": "after the slow one"}
    writer.close()


async def test_a_body_sent_slowly_is_cut_by_the_read_timeout(address: tuple[str, int]) -> None:
    reader, writer = await connect(address)
    writer.write(request("POST", "/echo", content_type="application/json", content_length="1000"))

    held = await seconds_held_while_trickling(reader, writer, lambda _: " ")

    assert held < READ_TIMEOUT + 1
    writer.close()


async def test_a_request_framed_two_ways_is_refused(address: tuple[str, int]) -> None:
    """Content-Length beside Transfer-Encoding: a proxy in front may frame the body one way
    and the server the other (request smuggling), so the request is not served at all."""
    reader, writer = await connect(address)
    body = orjson.dumps({"text": "a"})
    chunked = f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"  # served as chunked
    writer.write(
        request(
            "POST",
            "/echo",
            chunked,
            content_type="application/json",
            content_length=str(len(chunked)),
            transfer_encoding="chunked",
        )
    )

    status, _, _ = await response(reader)

    assert status == 400
    assert await seconds_until_closed(reader) < 1
    writer.close()


async def test_past_the_connection_limit_requests_get_503(address: tuple[str, int]) -> None:
    held = [await connect(address) for _ in range(MAX_CONNECTIONS)]
    reader, writer = await connect(address)
    writer.write(request("GET", "/health/live"))

    status, _, _ = await response(reader)

    assert status == 503
    for _, other in [*held, (reader, writer)]:
        other.close()


async def test_a_body_declared_too_large_gets_413_at_once_and_the_connection_is_closed(
    address: tuple[str, int],
) -> None:
    reader, writer = await connect(address)
    writer.write(
        request(
            "POST",
            "/echo",
            content_type="application/json",
            content_length=str(100 * 2**20),
        )
    )

    status, headers, body = await response(reader)

    assert status == 413
    assert headers["content-type"] == "application/json"
    assert orjson.loads(body) == {"message": f"request body larger than {MAX_BODY} bytes"}
    assert await seconds_until_closed(reader) < 1
    writer.close()


async def test_a_chunked_body_past_the_limit_gets_413(address: tuple[str, int]) -> None:
    reader, writer = await connect(address)
    writer.write(
        request("POST", "/echo", content_type="application/json", transfer_encoding="chunked")
    )
    chunk = b'{"text": "' + b"x" * 1000
    for _ in range(3):  # 3 KB, past the 2 KB limit; the body is never finished
        writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        chunk = b"x" * 1000

    status, _, body = await response(reader)

    assert status == 413
    assert orjson.loads(body)["message"] == f"request body larger than {MAX_BODY} bytes"
    writer.close()


async def test_a_body_within_the_limit_is_served(address: tuple[str, int]) -> None:
    reader, writer = await connect(address)
    text = "x" * (MAX_BODY - 100)
    writer.write(
        request("POST", "/echo", orjson.dumps({"text": text}), content_type="application/json")
    )

    status, _, body = await response(reader)

    assert (status, orjson.loads(body)) == (200, {"text": text})
    writer.close()


async def test_answers_on_a_kept_alive_connection_are_not_held_back(
    address: tuple[str, int],
) -> None:
    """Without TCP_NODELAY on the server's connections each answer after the first waited
    for the client's delayed ACK, some 40 ms."""
    reader, writer = await connect(address)
    started = time.monotonic()
    for _ in range(20):
        writer.write(request("GET", "/health/live"))
        assert (await response(reader))[0] == 200
    elapsed = time.monotonic() - started

    assert elapsed < 0.4, f"20 requests on one connection took {elapsed:.2f}s"
    writer.close()
