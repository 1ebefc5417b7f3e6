"""Assembles the shim's FastAPI application: services, probes, metrics, dialect routers, errors."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.exceptions import HTTPException as StarletteHTTPException

from deployunits import __version__, constants
from deployunits.api import errors
from deployunits.api.auth import AllowAll, Authorizer, KubernetesAuthorizer
from deployunits.api.bindings import EngineBindings
from deployunits.api.cache import CacheNotReady, RedeployCache, UnitCache
from deployunits.api.camunda import errors as camunda_errors
from deployunits.api.camunda import openapi as camunda_openapi
from deployunits.api.camunda.bound import BoundIndex
from deployunits.api.camunda.errors import CamundaError
from deployunits.api.camunda.routes import camunda_router, unmatched_under_missing_engine
from deployunits.api.console import routes as console
from deployunits.api.console.feed import UnitFeed
from deployunits.api.content import ContentStore
from deployunits.api.deps import Services
from deployunits.api.headers import DateHeader
from deployunits.api.jbpm import errors as jbpm_errors
from deployunits.api.jbpm.errors import JbpmError
from deployunits.api.jbpm.routes import add_links as jbpm_openapi_links
from deployunits.api.jbpm.routes import jbpm_router
from deployunits.api.metrics import RequestMetrics
from deployunits.api.named_engines import NamedEngines
from deployunits.api.timeouts import BodyDeadline, BodyTimedOut
from deployunits.api.units import UnitWriter
from deployunits.k8s.connect import connect
from deployunits.k8s.connection import Connection
from deployunits.k8s.errors import ApiError, ApiUnavailable
from deployunits.k8s.gateway import ApiServer
from deployunits.settings import AuthMode, ShimSettings

logger = logging.getLogger(__name__)


def _generic(failure: errors.Failure) -> Response:
    """The answer outside both dialects (probes, metrics, unknown paths): `{"message"}`."""
    message = {
        errors.Kind.UNEXPECTED: "unexpected error",
        errors.Kind.INVALID: "invalid request",
    }.get(failure.kind, failure.message)
    return JSONResponse({"message": message}, failure.status, headers=dict(failure.headers))


def _answer(request: Request, error: Exception) -> Response:
    """The answer for `error` in the dialect of the path it was addressed to."""
    path = request.url.path
    if path.startswith(constants.JBPM_PREFIX):
        return jbpm_errors.from_exception(error).response(str(request.url))
    if path.startswith(constants.CAMUNDA_PREFIX):
        return camunda_errors.from_exception(error).response()
    return _generic(errors.failure_of(error))


#: The failures with a known answer; any other exception is a bug, answered as a 500.
_EXPECTED = (
    CamundaError,
    JbpmError,
    errors.Refused,
    StarletteHTTPException,
    RequestValidationError,
    BodyTimedOut,
    CacheNotReady,
    ApiUnavailable,
    ApiError,
    TimeoutError,
)


def _install_error_handlers(app: FastAPI, counter: Counter) -> None:
    """Every failure answers in the dialect of the path it was addressed to, without traces."""

    async def expected(request: Request, error: Exception) -> Response:
        if isinstance(error, StarletteHTTPException):
            # No route matched: an unknown named engine may have an answer of its own.
            missing = await unmatched_under_missing_engine(request)
            if missing is not None:
                error = missing
        response = _answer(request, error)
        counter.labels(str(response.status_code)).inc()
        return response

    async def unexpected(request: Request, error: Exception) -> Response:
        logger.error("unexpected error in %s %s", request.method, request.url.path, exc_info=error)
        return await expected(request, error)

    for kind in _EXPECTED:
        app.add_exception_handler(kind, expected)
    app.add_exception_handler(Exception, unexpected)


def _authorizer(settings: ShimSettings, kube: ApiServer) -> Authorizer:
    if settings.auth_mode is AuthMode.NONE:
        return AllowAll()
    return KubernetesAuthorizer(
        kube.reviews, audiences=settings.token_audiences, cache_seconds=settings.auth_cache_seconds
    )


def _openapi(app: FastAPI) -> dict[str, Any]:
    """The generated document, without FastAPI's 422 answers (the shim never sends them)."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
    )
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            operation.get("responses", {}).pop("422", None)
    camunda_openapi.add_links(schema.get("paths", {}))
    jbpm_openapi_links(schema.get("paths", {}))
    components = schema.get("components", {}).get("schemas", {})
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    app.openapi_schema = schema
    return schema


def create_app(settings: ShimSettings | None = None) -> FastAPI:
    """A shim application bound to one settings object (validated before this is called)."""
    settings = settings or ShimSettings()
    registry = CollectorRegistry()
    requests = Counter(
        "deployunits_shim_requests_total",
        "Requests by route template, method and status.",
        ["route", "method", "status"],
        registry=registry,
    )
    latency = Histogram(
        "deployunits_shim_request_duration_seconds",
        "Request latency by route template and method.",
        ["route", "method"],
        buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        registry=registry,
    )
    answered_errors = Counter(
        "deployunits_shim_errors_total", "Error answers by status.", ["status"], registry=registry
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        kube = connect(Connection.load(settings.kubeconfig))
        units = UnitCache(kube, settings.namespaces)
        redeploys = RedeployCache(kube, settings.namespaces)
        bindings = EngineBindings(
            kube,
            settings.bindings(),
            refresh_seconds=settings.engine_refresh_seconds,
            urls=settings.engine_urls(),
        )
        app.state.services = Services(
            settings=settings,
            kube=kube,
            units=units,
            redeploys=redeploys,
            writer=UnitWriter(
                kube,
                units,
                redeploys,
                timeout=settings.write_timeout_seconds,
                redeploy_ttl_seconds=settings.redeploy_ttl_seconds,
            ),
            content=ContentStore(kube.snapshots, settings.content_cache_bytes),
            authorizer=_authorizer(settings, kube),
            named_engines=NamedEngines(kube.namespaces, frozenset(settings.namespaces)),
            bindings=bindings,
            bound=BoundIndex(units),
        )
        app.state.console_feed = UnitFeed(units)
        units.start()
        redeploys.start()
        # Serve at once; reads answer 503 until the caches have their first list.
        try:
            yield
        finally:
            await units.stop()
            await redeploys.stop()
            await bindings.aclose()
            await kube.aclose()

    app = FastAPI(
        title="deployunits REST shim",
        description="Camunda 7 /engine-rest/deployment over DeploymentUnit custom resources.",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.metrics = registry
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    _install_error_handlers(app, answered_errors)
    app.add_middleware(BodyDeadline, seconds=settings.request_body_timeout_seconds)
    # Added last, so it wraps the others: it counts the answers of every exception handler.
    app.add_middleware(RequestMetrics, requests=requests, latency=latency)
    app.add_middleware(DateHeader)
    app.include_router(camunda_router(settings))
    app.include_router(jbpm_router())
    console.install(app)

    @app.get("/healthz", response_class=PlainTextResponse, include_in_schema=False)
    async def healthz() -> str:
        return "ok"

    @app.get("/readyz", response_class=PlainTextResponse, include_in_schema=False)
    async def readyz() -> PlainTextResponse:
        # The caches' watches are live only while the API server answers.
        services: Services = app.state.services
        if not (services.units.ready() and services.redeploys.ready()):
            return PlainTextResponse("caches not in sync with the API server", status_code=503)
        return PlainTextResponse("ok")

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> PlainTextResponse:
        return PlainTextResponse(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app
