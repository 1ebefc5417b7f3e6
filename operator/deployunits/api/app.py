"""Assembles the shim's FastAPI application: probes, metrics and the dialect routers."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from deployunits import __version__
from deployunits.k8s.client import ApiError, ApiUnavailable, Connection, KubeClient
from deployunits.settings import ShimSettings


def create_app(settings: ShimSettings | None = None) -> FastAPI:
    """A shim application bound to one settings object (validated before this is called)."""
    settings = settings or ShimSettings()
    registry = CollectorRegistry()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        kube = KubeClient(Connection.load(settings.kubeconfig))
        app.state.kube = kube
        try:
            yield
        finally:
            await kube.aclose()

    app = FastAPI(
        title="deployunits REST shim",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.metrics = registry

    @app.get("/healthz", response_class=PlainTextResponse, include_in_schema=False)
    async def healthz() -> str:
        return "ok"

    @app.get("/readyz", response_class=PlainTextResponse, include_in_schema=False)
    async def readyz() -> PlainTextResponse:
        kube: KubeClient = app.state.kube
        try:
            await kube.get("/readyz")
        except (ApiError, ApiUnavailable) as error:
            return PlainTextResponse(f"API server not ready: {error}", status_code=503)
        return PlainTextResponse("ok")

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> PlainTextResponse:
        return PlainTextResponse(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app
