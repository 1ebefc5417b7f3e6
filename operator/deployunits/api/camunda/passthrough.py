"""An engine-bound shim's pass-through: every other /engine-rest call goes to the bound engine.

Process definitions, instances, tasks, history, messages, `/version`: whatever a client calls
after it deployed reaches the engine through the engines gateway's forwarder, streamed both
ways. The routes match only paths that are not the shim's own: nothing under `deployment`
(deployments are units, and the operator is the only code that deploys to engines), nor
`engine/...` of a namespace that is not bound. A forwarded call needs `get` on the bound
ProcessEngine.
"""

import re
from collections.abc import AsyncIterator

import anyio
from fastapi import APIRouter, Request
from starlette.convertors import Convertor, register_url_convertor
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from deployunits import constants
from deployunits.api.auth import Access
from deployunits.api.bindings import EngineNotBound
from deployunits.api.camunda.errors import unavailable, web_error
from deployunits.api.deps import Services, authorize
from deployunits.engines import EngineUnavailable, ForwardedAnswer, NotForwardable

#: Every method a Camunda client uses; the engine answers the ones it does not serve.
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]


class ForwardablePath(Convertor[str]):
    """A path (of one or more segments) that is not under `deployment` nor `engine`, in any
    case, with or without matrix parameters. The path is already decoded when it is matched;
    the forwarder checks the raw path again."""

    regex = r"(?!(?i:deployment|engine)(?:[/;]|$)).+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("forwardable", ForwardablePath())


class BodyTooLarge(Exception):
    """A forwarded body grew over the shim's request size limit."""


class CallerBody:
    """The caller's body as it arrives, cut off past `limit` bytes.

    The HTTP client wraps what the body raises (too large, too slow: BodyTimedOut) in a failure
    of its own, so `error` keeps it, to answer for it rather than for the engine.
    """

    def __init__(self, stream: AsyncIterator[bytes], limit: int) -> None:
        self._stream = stream
        self._limit = limit
        self.error: Exception | None = None

    async def __aiter__(self) -> AsyncIterator[bytes]:
        seen = 0
        try:
            async for chunk in self._stream:
                seen += len(chunk)
                if seen > self._limit:
                    raise BodyTooLarge
                if chunk:
                    yield chunk
        except Exception as error:
            self.error = error
            raise


def _has_body(request: Request) -> bool:
    length = request.headers.get("content-length")
    return (length is not None and length.strip() != "0") or (
        "transfer-encoding" in request.headers
    )


_PREFIX = re.compile(rf"^{re.escape(constants.CAMUNDA_PREFIX)}(?:/engine/[^/]+)?/")


async def forward(request: Request, services: Services, namespace: str) -> ForwardedAnswer:
    """Send the request to the namespace's bound engine; its answer once status and headers
    are in."""
    engine = services.bindings.engine_of(namespace)
    if engine is None:
        raise StarletteHTTPException(404)
    access = Access(namespace, "get", constants.PROCESS_ENGINE_PLURAL, name=engine)
    await authorize(request, services.authorizer, access)
    limit = services.settings.max_request_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise web_error(413)
    raw_path = request.scope.get("raw_path") or request.url.path.encode()
    named = request.path_params.get("engine") is not None
    below = raw_path.decode("latin-1")
    match = _PREFIX.match(below)
    if match is None or named != ("/engine/" in match.group(0)):
        raise web_error(404)
    segments = below[match.end() :].split("/")
    body = CallerBody(request.stream(), limit) if _has_body(request) else None
    try:
        forwarder = await services.bindings.forwarder(namespace)
        return await forwarder.open(
            request.method,
            segments,
            request.scope.get("query_string", b"").decode("latin-1"),
            request.headers.items(),
            body,
        )
    except BodyTooLarge:
        raise web_error(413) from None
    except NotForwardable:
        raise web_error(404) from None
    except (EngineNotBound, EngineUnavailable) as error:
        if body is not None and isinstance(body.error, BodyTooLarge):
            raise web_error(413) from None
        if body is not None and body.error is not None:
            raise body.error from None
        raise unavailable(f"The process engine cannot be reached: {error}") from None


async def relay(answer: ForwardedAnswer, receive: Receive, send: Send) -> None:
    """Send the engine's answer on as it arrives; the engine's connection is released however
    it ends.

    Most answers arrive whole with their head and go out in two messages. A longer one streams,
    watched for the caller going away, which stops the reading of the engine's answer.
    """
    chunks = answer.body()
    try:
        await send(
            {"type": "http.response.start", "status": answer.status, "headers": answer.headers}
        )
        first = await anext(chunks, b"")
        if answer.complete:
            await send({"type": "http.response.body", "body": first})
            return
        async with anyio.create_task_group() as group:

            async def stop_when_the_caller_leaves() -> None:
                while (await receive())["type"] != "http.disconnect":
                    pass
                group.cancel_scope.cancel()

            group.start_soon(stop_when_the_caller_leaves)
            await send({"type": "http.response.body", "body": first, "more_body": True})
            async for chunk in chunks:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
            group.cancel_scope.cancel()
    finally:
        await chunks.aclose()
        await answer.aclose()


class Forward:
    """The ASGI endpoint of a pass-through route.

    A plain ASGI application rather than a FastAPI endpoint: forwarded calls are the sidecar's
    hot path, and dependency solving and a response object (with its task group) per call
    cost more than the second hop itself. Failures raise the shim's usual exceptions, so the
    application's handlers answer them as for every other route.
    """

    def __init__(self, *, named: bool) -> None:
        self.named = named

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        services: Services = request.app.state.services
        if self.named:
            namespace = request.path_params["engine"]
            if services.bindings.engine_of(
                namespace
            ) is None or not await services.named_engines.exists(namespace):
                raise StarletteHTTPException(404)
        else:
            namespace = services.settings.namespace
        await relay(await forward(request, services, namespace), receive, send)


def passthrough_router(*, default_bound: bool) -> APIRouter:
    """The pass-through routes, matched before the shim's own: their paths exclude every first
    segment the shim serves itself (`deployment`, `engine`), so the order decides nothing but
    how soon a forwarded call finds its route. With the default engine bound, its `/version`
    is the engine's too."""
    router = APIRouter(include_in_schema=False)
    paths = [("/engine/{engine}/{path:forwardable}", True)]
    if default_bound:
        paths.append(("/{path:forwardable}", False))
    for path, named in paths:
        router.routes.append(
            Route(path, Forward(named=named), methods=METHODS, include_in_schema=False)
        )
    return router
