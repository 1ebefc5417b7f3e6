"""Limits on reading a request: deadlines for slow or stalled clients, a size for request heads.

uvicorn times out idle keep-alive connections only between requests: a client that connects
and never finishes its request head, or stops in the middle of a body, keeps its connection (and
whatever the handler holds) open indefinitely. Its httptools protocol also puts no bound on the
size of a request head, which the parser gathers in memory. The head deadline and the head size
limit live in the HTTP protocol (before a request exists nothing else can see the connection);
the body deadline wraps the ASGI `receive` so the route that reads the body fails with
`BodyTimedOut`, which each dialect answers with its own 408.

The same protocol ignores offers to switch protocols (`Upgrade: h2c`, which Java's HttpClient
adds to every HTTP/1.1 request by default). httptools stops parsing at the end of such a head
and skips the body, so uvicorn would run the request with an empty body and answer the body's
bytes with a 400: the caller hears of a failure while its request took effect. The shim speaks
HTTP/1.1 only, as the engines do; a request offering an upgrade is served as a plain one.
"""

import asyncio
import http

import httptools
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from deployunits.api.middleware import HttpMiddleware


def _raw_answer(status: int, text: str) -> bytes:
    """A whole answer that closes the connection, written before any request exists."""
    body = text.encode()
    head = (
        f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}\r\n"
        "content-type: text/plain; charset=utf-8\r\nconnection: close\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


#: The headers that frame a request's body, kept when the parser is set up again for it.
_FRAMING = (b"content-length", b"transfer-encoding")

#: Sent before closing a connection whose request head did not arrive in time.
_HEAD_TIMEOUT_ANSWER = _raw_answer(408, "The request head took too long.")


class BodyTimedOut(Exception):
    """The request body did not arrive within the deadline."""


def head_limited_protocol(seconds: float, max_bytes: int) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol, cutting off request heads over `seconds` or `max_bytes`.

    The deadline runs from the connection, or from the first byte of a later request on a
    kept-alive connection, until the head is complete; a late head gets a 408. A head over
    `max_bytes` (request line and headers) gets a 431. Either way the connection is closed.
    An offer to upgrade the connection (`Upgrade: h2c`) is ignored: the request is served
    whole, as HTTP/1.1.
    """
    too_large = _raw_answer(431, f"The request head is larger than {max_bytes} bytes.")

    class HeadLimitedProtocol(HttpToolsProtocol):
        _head_deadline: asyncio.TimerHandle | None = None
        #: Bytes received of the request head in progress; None while no head is in progress.
        _head_bytes: int | None = None
        #: Whether a request is arriving (its head or its body), even one already answered.
        _in_request = False
        #: The request in progress offered an upgrade that is being ignored.
        _upgrade_ignored = False
        #: The parser is being set up for a body whose head it already parsed: the head's
        #: callbacks must not start another request.
        _replaying = False

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            # Bytes after an answer on a kept-alive connection start a new deadline, even stray
            # line ends that the parser skips without starting a request; the rest of a body
            # that was answered early (a 413) does not.
            if self._head_deadline is None and not self._in_request and self._answered():
                self._arm()
            # The parser is fed at most as much as would take a head to the limit, so a head
            # up to the limit is served however it arrives, and one over it is caught the
            # moment it passes the limit, even within one read.
            while data:
                room = max_bytes - (self._head_bytes or 0)
                piece, data = data[:room], data[room:]
                rest = self._feed(piece)
                if rest is not None:
                    data = rest + data
                    continue
                if self.transport.is_closing():
                    return
                if self._head_bytes is not None:
                    # Counted from the start of the piece: a head that began inside it (one
                    # pipelined behind another request) also counts what came before it.
                    self._head_bytes += len(piece)
                    if self._head_bytes >= max_bytes:
                        self._cut_off(too_large)
                        return

        def _feed(self, piece: bytes) -> bytes | None:
            """uvicorn's data_received, except that an ignored upgrade sets the parser up for
            the request's body; returns the bytes the parser did not read then, else None."""
            self._unset_keepalive_if_required()
            try:
                self.parser.feed_data(piece)
            except httptools.HttpParserError:
                msg = "Invalid HTTP request received."
                self.logger.warning(msg)
                self.send_400_response(msg)
            except httptools.HttpParserUpgrade as upgrade:
                if not self._upgrade_ignored:  # uvicorn's own handling (WebSockets)
                    if self._should_upgrade():
                        self.handle_websocket_upgrade()
                    else:
                        self._unsupported_upgrade_warning()
                    return None
                try:
                    self._resume_as_http11()
                except httptools.HttpParserError:  # framing the first parser let pass
                    self.send_400_response("Invalid HTTP request received.")
                    return None
                return piece[upgrade.args[0] :]
            return None

        def _resume_as_http11(self) -> None:
            """A fresh parser, given a head with the request's framing headers only, so that
            it reads the body (and any later requests) as HTTP/1.1 into the current request."""
            self._upgrade_ignored = False
            framing = b"".join(
                name + b": " + value + b"\r\n" for name, value in self.headers if name in _FRAMING
            )
            self.parser = httptools.HttpRequestParser(self)
            self._replaying = True
            try:
                self.parser.feed_data(b"POST / HTTP/1.1\r\n" + framing + b"\r\n")
            finally:
                self._replaying = False

        def on_url(self, url: bytes) -> None:
            if not self._replaying:
                super().on_url(url)

        def on_header(self, name: bytes, value: bytes) -> None:
            if not self._replaying:
                super().on_header(name, value)

        def on_message_begin(self) -> None:
            if self._replaying:
                return
            super().on_message_begin()
            self._in_request = True
            self._head_bytes = 0
            if self._head_deadline is None:
                self._arm()

        def on_headers_complete(self) -> None:
            if self._replaying:
                return
            self._head_bytes = None
            self._disarm()
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            # The parser calls an upgrading request complete at the end of its head, having
            # skipped the body: it is complete only once the body is read.
            if self.parser.should_upgrade() and not self._should_upgrade():
                self._upgrade_ignored = True
                return
            self._in_request = False
            super().on_message_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            self._disarm()
            self._head_deadline = self.loop.call_later(seconds, self._head_timed_out)

        def _disarm(self) -> None:
            if self._head_deadline is not None:
                self._head_deadline.cancel()
                self._head_deadline = None

        def _head_timed_out(self) -> None:
            self._head_deadline = None
            if not self.transport.is_closing():
                self._cut_off(_HEAD_TIMEOUT_ANSWER)

        def _cut_off(self, answer: bytes) -> None:
            self._disarm()
            # No request exists yet, so no response can frame the answer: write it as raw
            # bytes. Only while an answer to a pipelined request is still being written
            # would they garble it; that connection is just closed.
            if self._answered():
                self.transport.write(answer)
            self.transport.close()

        def _answered(self) -> bool:
            """Whether every request so far has had its whole answer written."""
            return self.cycle is None or self.cycle.response_complete

    return HeadLimitedProtocol


class BodyDeadline(HttpMiddleware):
    """ASGI middleware: the whole request body must arrive within `seconds` of the request."""

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        super().__init__(app)
        self.seconds = seconds

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.seconds
        body_done = False

        async def timed_receive() -> Message:
            nonlocal body_done
            if body_done:
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise BodyTimedOut(
                    f"the request body did not arrive within {self.seconds:g}s"
                ) from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        await self.app(scope, timed_receive, send)
