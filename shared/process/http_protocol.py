"""The HTTP/1.1 protocol a service serves with: uvicorn's httptools protocol (llhttp, the
parser of Node.js, in C), with the two bounds on a client that uvicorn leaves out.

- The request line and headers are limited to `max_head_bytes`: a request whose head is
  larger gets 431 and its connection is closed; an unfinished head is held up to that
  size (and the read that crossed it), no more.
- A request must arrive whole (line, headers, body) within `read_timeout` seconds,
  counted from the opening of the connection or the end of the previous response; a
  connection that sends nothing, or sends slowly, is closed. (uvicorn times out a
  connection idle *between* requests only.)

uvicorn's h11 protocol has the first bound, for an unfinished head only, but parses in
Python: measured here, the order service's POST /orders with its intake stubbed (no
database, no broker), 3,000 requests one at a time, three alternating runs: 640 / 643 /
660 us of the server's CPU a request through h11, 553 / 517 / 523 through this. llhttp is
also the stricter: a request framed by both Content-Length and Transfer-Encoding, which h11
served (as chunked), is refused with 400, as are folded header lines."""

import asyncio
import logging
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

log = logging.getLogger(__name__)


def bounded_httptools(*, max_head_bytes: int, read_timeout: float) -> type["BoundedHttpTools"]:
    """The protocol class for uvicorn's `http` setting."""
    bounds = {"max_head_bytes": max_head_bytes, "read_timeout": read_timeout}
    return type("BoundedHttpTools", (BoundedHttpTools,), bounds)


class BoundedHttpTools(HttpToolsProtocol):
    max_head_bytes: ClassVar[int] = 16 * 1024
    read_timeout: ClassVar[float] = 10.0

    _deadline: asyncio.TimerHandle | None = None
    _awaiting_head = True  # a request is awaited, or its line and headers are arriving
    _receiving = True  # a request is awaited or arriving (its head or its body)
    _buffered = 0  # bytes read while the head was unfinished (what the parser holds)
    _head = 0  # bytes of the request's target and headers, as the parser gives them

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._watch()

    def data_received(self, data: bytes) -> None:
        if self._awaiting_head:
            self._buffered += len(data)
        super().data_received(data)
        if self._awaiting_head and self._buffered > self.max_head_bytes:
            self._refuse_head()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._receiving = True
        self._head = 0
        self._watch()

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        self._head += len(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        super().on_header(name, value)
        self._head += len(name) + len(value) + 4  # ": " and CRLF

    def on_headers_complete(self) -> None:
        self._awaiting_head = False
        self._buffered = 0
        if self._head > self.max_head_bytes:
            # Raised through the parser, which stops and reports a callback error:
            # uvicorn then answers with `send_400_response`, below.
            raise ValueError("request head too large")
        super().on_headers_complete()
        self._watch()

    def on_message_complete(self) -> None:
        self._awaiting_head = True
        self._receiving = False
        self._watch()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._watch()

    def connection_lost(self, exc: Exception | None) -> None:
        self._unwatch()
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        if self._head > self.max_head_bytes:
            self._refuse_head()
        else:
            super().send_400_response(msg)

    def _refuse_head(self) -> None:
        self._awaiting_head = False
        if not self.transport.is_closing():
            reason = f"request line and headers larger than {self.max_head_bytes} bytes"
            self.transport.write(
                STATUS_LINE[431]
                + b"content-type: text/plain; charset=utf-8\r\n"
                + b"content-length: %d\r\nconnection: close\r\n\r\n" % len(reason)
                + reason.encode()
            )
            self.transport.close()

    def _watch(self) -> None:
        """A deadline runs while a request is awaited or arriving, none while a request
        received whole is being answered, nor while a pipelined request waits for its turn
        (uvicorn stops reading until then: its body could not arrive). Armed once for each
        request: a trickle does not extend it."""
        answering = self.cycle is not None and not self.cycle.response_complete
        waiting = (self._receiving or not answering) and not self.pipeline
        if not waiting or self.transport.is_closing():
            self._unwatch()
        elif self._deadline is None:
            self._deadline = self.loop.call_later(self.read_timeout, self._timed_out)

    def _unwatch(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _timed_out(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            log.debug("closing a connection that sent no whole request in %ss", self.read_timeout)
            self.transport.close()
