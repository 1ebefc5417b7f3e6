"""An engine-bound shim's pass-through: every other /engine-rest call goes to the bound engine.

Process definitions, instances, tasks, history, messages: whatever a client calls after it
deployed reaches the engine through the engines gateway's forwarder, streamed both ways. The
routes match only paths that are not the shim's own: nothing under `deployment` (deployments
are units, and the operator is the only code that deploys to engines), nor `engine/...` of a
namespace that is not bound. A forwarded call needs `get` on the bound ProcessEngine.
"""

import re
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response, StreamingResponse
from starlette.background import BackgroundTask
from starlette.convertors import Convertor, register_url_convertor
from starlette.exceptions import HTTPException as StarletteHTTPException

from deployunits import constants
from deployunits.api.auth import Access
from deployunits.api.bindings import EngineNotBound
from deployunits.api.camunda.errors import unavailable, web_error
from deployunits.api.deps import ServicesDep, SettingsDep, authorize
from deployunits.engines import EngineUnavailable, NotForwardable

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


async def forward(request: Request, services: ServicesDep, namespace: str) -> Response:
    """Forward the request to the namespace's bound engine and stream its answer back."""
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
        answer = await forwarder.open(
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
    # The background task releases the engine's connection even if the caller went away
    # before the body started.
    response = StreamingResponse(
        answer.body(), status_code=answer.status, background=BackgroundTask(answer.aclose)
    )
    response.raw_headers = answer.headers
    return response


def passthrough_router() -> APIRouter:
    """The catch-all routes; included after every route of the shim's own."""
    router = APIRouter(include_in_schema=False)

    @router.api_route("/engine/{engine}/{path:forwardable}", methods=METHODS)
    async def forward_to_named_engine(
        request: Request,
        engine: Annotated[str, Path(description="The engine name: a namespace.")],
        services: ServicesDep,
    ) -> Response:
        if services.bindings.engine_of(engine) is None or not await services.named_engines.exists(
            engine
        ):
            raise StarletteHTTPException(404)
        return await forward(request, services, engine)

    @router.api_route("/{path:forwardable}", methods=METHODS)
    async def forward_to_default_engine(
        request: Request, services: ServicesDep, settings: SettingsDep
    ) -> Response:
        return await forward(request, services, settings.namespace)

    return router
