"""Deadlines for reading a request, so slow or stalled clients cannot hold connections forever.

uvicorn times out idle keep-alive connections only between requests: a client that connects
and never finishes its request head, or stops in the middle of a body, keeps its connection (and
whatever the handler holds) open indefinitely. The head deadline lives in the HTTP protocol
(before a request exists nothing else can see the connection); the body deadline wraps the ASGI
`receive` so the route that reads the body fails with `BodyTimedOut`, which each dialect answers
with its own 408.
"""

import asyncio

import h11
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

#: Sent before closing a connection whose request head did not arrive in time.
_HEAD_TIMEOUT_ANSWER = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"connection: close\r\ncontent-length: 31\r\n\r\nThe request head took too long."
)


class BodyTimedOut(Exception):
    """The request body did not arrive within the deadline."""


def head_deadline_protocol(seconds: float) -> type[H11Protocol]:
    """uvicorn's h11 protocol, closing connections whose request head takes over `seconds`."""

    class HeadDeadlineProtocol(H11Protocol):
        _head_deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            # A new request on a kept-alive connection starts a new deadline.
            if self._head_deadline is None and self.conn.their_state is h11.IDLE:
                self._arm()
            super().data_received(data)
            if self.conn.their_state is not h11.IDLE:
                self._disarm()

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
            if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
                return
            # No request exists yet, so h11 cannot frame an answer: write it as raw bytes.
            self.transport.write(_HEAD_TIMEOUT_ANSWER)
            self.transport.close()

    return HeadDeadlineProtocol


class BodyDeadline:
    """ASGI middleware: the whole request body must arrive within `seconds` of the request."""

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
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
