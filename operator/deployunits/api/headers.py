"""A Date on the shim's own answers, so that forwarded answers keep the engine's alone.

uvicorn adds its own `date` and `server: uvicorn` to every answer. A forwarded answer already
carries the engine's Date (and, like the engine's, no Server header), so it went out with two
dates. `main.py` turns uvicorn's headers off; this middleware dates the answers that have none.
"""

import time
from email.utils import formatdate

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from deployunits.api.middleware import HttpMiddleware


class DateHeader(HttpMiddleware):
    """ASGI middleware: adds a Date header (RFC 9110 6.6.1) to an answer that has none."""

    def __init__(self, app: ASGIApp) -> None:
        super().__init__(app)
        self._second = -1
        self._value = b""

    def _now(self) -> bytes:
        second = int(time.time())
        if second != self._second:
            self._second, self._value = second, formatdate(second, usegmt=True).encode()
        return self._value

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def dated_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                if not any(name.lower() == b"date" for name, _ in headers):
                    message = {**message, "headers": [(b"date", self._now()), *headers]}
            await send(message)

        await self.app(scope, receive, dated_send)
