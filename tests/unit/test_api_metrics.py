"""The shim's request metrics: each answer counted once by route template, method and status.

Covered: a normal answer (path parameters named in the route label, one spanning segments
too), an error that an exception handler answers, an exception that escapes every handler (the
server's 500), an unrouted path, and an answer that fails after its head was sent (counted with
the status already sent).
"""

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from prometheus_client import CollectorRegistry

from deployunits.api.app import create_app
from deployunits.api.cache import CacheNotReady
from deployunits.settings import AuthMode, ShimSettings


@pytest.fixture
def app() -> FastAPI:
    app = create_app(ShimSettings(auth_mode=AuthMode.NONE))

    @app.get("/things/{name}")
    async def thing(name: str) -> dict[str, str]:
        return {"name": name}

    @app.get("/files/{rest:path}")
    async def files(rest: str) -> dict[str, str]:
        return {"rest": rest}

    @app.get("/not-ready")
    async def not_ready() -> None:
        raise CacheNotReady("the cache has not listed its objects yet")

    @app.get("/broken/{name}")
    async def broken(name: str) -> None:
        raise RuntimeError(name)

    @app.get("/cut")
    async def cut() -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            yield b"a"
            raise RuntimeError("cut")

        return StreamingResponse(chunks())

    return app


def get(app: FastAPI, path: str) -> int:
    async def call() -> int:
        # The server's 500 is what a client sees; the test client would re-raise the error.
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://shim") as client:
            return (await client.get(path)).status_code

    return asyncio.run(call())


def counted(app: FastAPI, route: str, status: str) -> float | None:
    registry: CollectorRegistry = app.state.metrics
    labels = {"route": route, "method": "GET", "status": status}
    return registry.get_sample_value("deployunits_shim_requests_total", labels)


def timed(app: FastAPI, route: str) -> float | None:
    registry: CollectorRegistry = app.state.metrics
    labels = {"route": route, "method": "GET"}
    return registry.get_sample_value("deployunits_shim_request_duration_seconds_count", labels)


def test_a_normal_answer_is_counted_under_its_route_template(app: FastAPI) -> None:
    assert get(app, "/things/a") == 200
    assert get(app, "/things/b") == 200
    assert counted(app, "/things/{name}", "200") == 2
    assert timed(app, "/things/{name}") == 2


def test_a_parameter_spanning_segments_names_the_paths_tail(app: FastAPI) -> None:
    assert get(app, "/files/a/b/c") == 200
    assert get(app, "/files/d/e") == 200
    assert counted(app, "/files/{rest}", "200") == 2


def test_an_error_answered_by_an_exception_handler_is_counted_with_its_status(
    app: FastAPI,
) -> None:
    assert get(app, "/not-ready") == 503
    assert counted(app, "/not-ready", "503") == 1
    assert timed(app, "/not-ready") == 1


def test_an_exception_escaping_every_handler_is_counted_as_the_500_sent(app: FastAPI) -> None:
    assert get(app, "/broken/a") == 500
    assert counted(app, "/broken/{name}", "500") == 1
    assert timed(app, "/broken/{name}") == 1


def test_unrouted_paths_share_one_label(app: FastAPI) -> None:
    assert get(app, "/nowhere/1") == 404
    assert get(app, "/nowhere/2") == 404
    assert counted(app, "unmatched", "404") == 2


def test_an_answer_cut_after_its_head_is_counted_once(app: FastAPI) -> None:
    assert get(app, "/cut") == 200
    assert counted(app, "/cut", "200") == 1
    assert counted(app, "/cut", "500") is None
