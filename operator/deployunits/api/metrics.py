"""Request metrics of the shim: every answer counted by route template, method and status, timed.

A pure ASGI middleware, not Starlette's `BaseHTTPMiddleware`: that one runs each request in an
anyio task group and streams the response through a memory stream, a large share of the shim's
CPU per request. This one only reads the status of the `http.response.start` it passes on.
`app.py` installs it outside the exception handlers, so the answers they make are counted.
"""

import time

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from deployunits.api.middleware import HttpMiddleware


def route_template(scope: Scope) -> str:
    """The path with its parameters named, e.g. /engine-rest/engine/{engine}/deployment/{id}.

    Ids in label values would make the series unbounded; unrouted paths share one label. A
    parameter may span several segments (a forwarded call's path): it names the path's tail.
    """
    if scope.get("route") is None and scope.get("endpoint") is None:
        return "unmatched"
    path: str = scope["path"]
    params: dict[str, object] = scope.get("path_params", {})
    for name, value in params.items():
        text = str(value)
        if "/" in text and path.endswith("/" + text):
            path = f"{path[: -len(text)]}{{{name}}}"
    segments = path.split("/")
    for name, value in params.items():
        segments = [f"{{{name}}}" if segment == str(value) else segment for segment in segments]
    return "/".join(segments)


class RequestMetrics(HttpMiddleware):
    """ASGI middleware: counts answers by route, method and status; times them to their head."""

    def __init__(self, app: ASGIApp, requests: Counter, latency: Histogram) -> None:
        super().__init__(app)
        self.requests = requests
        self.latency = latency

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        answered = False

        def record(status: int) -> None:
            # The router has added the matched route to the scope by the time anything answers.
            template = route_template(scope)
            method = scope["method"]
            self.requests.labels(template, method, str(status)).inc()
            self.latency.labels(template, method).observe(time.perf_counter() - started)

        async def counting_send(message: Message) -> None:
            nonlocal answered
            if message["type"] == "http.response.start":
                answered = True
                record(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        except Exception:
            # The handler of unexpected errors sits outside every middleware and answers 500.
            # An error after the head was sent only cuts the answer that is already counted.
            if not answered:
                record(500)
            raise
