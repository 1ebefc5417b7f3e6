"""The console's routes: JSON reads and a server-sent event stream over the shim's unit cache,
and the built page (static files shipped in this package) at /console/.

Every read is authorized like the dialects' reads (mode `kubernetes`: TokenReview and
SubjectAccessReview of the caller's bearer token); a refusal answers `{"message"}` with 401 or
403. Only a unit page's Events are read from the API server, once per page view.
"""

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from pydantic import BaseModel, ValidationError
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from deployunits import constants
from deployunits.api.auth import Access, Decision, Verdict, credentials_from
from deployunits.api.cache import CachedUnit, UnitCache
from deployunits.api.console import views
from deployunits.api.console.feed import UnitFeed
from deployunits.api.deps import Services, ServicesDep
from deployunits.k8s.errors import ApiError, ApiUnavailable
from deployunits.models.deploymentunit import (
    DeploymentStatus,
    InlineResource,
)

logger = logging.getLogger(__name__)

#: Where `make console` (Vite) writes the built page; shipped as package data.
STATIC = Path(__file__).parent / "static"
PREFIX = "/console"

#: A stream ends after this long and the page opens a new one, so a revoked right takes effect.
STREAM_SECONDS = 240.0
HEARTBEAT_SECONDS = 15.0
_PARALLEL_REVIEWS = 16

#: The page loads nothing from elsewhere; bpmn-js and dmn-js set inline styles on elements.
_PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "font-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


async def _decide(request: Request, services: Services, access: Access) -> Decision:
    credentials = credentials_from(request.headers.get("authorization"))
    return await services.authorizer.decide(credentials, access)


def _refused(decision: Decision) -> HTTPException:
    if decision.verdict is Verdict.UNAUTHENTICATED:
        return HTTPException(
            401, f"Unauthorized: {decision.reason}", headers={"WWW-Authenticate": "Bearer"}
        )
    access = decision.access
    return HTTPException(
        403,
        f"Forbidden: {access.verb} {access.resource} in namespace {access.namespace}",
    )


async def _require(request: Request, services: Services, access: Access) -> None:
    decision = await _decide(request, services, access)
    if not decision.allowed:
        raise _refused(decision)


def _namespaces(services: Services) -> list[str]:
    """The namespaces the shim serves: its setting, or every namespace that has units."""
    if services.settings.namespaces:
        return sorted(services.settings.namespaces)
    return sorted({unit.namespace for unit in services.units.every_unit()})


async def _listable(request: Request, services: Services, namespaces: list[str]) -> set[str]:
    """The namespaces whose units the caller may list; 401 for credentials nobody accepts."""
    # Bounded: a first look at a cluster of many namespaces is one review per namespace.
    gate = asyncio.Semaphore(_PARALLEL_REVIEWS)

    async def decide(namespace: str) -> Decision:
        async with gate:
            return await _decide(request, services, Access(namespace, "list"))

    decisions = await asyncio.gather(*(decide(ns) for ns in namespaces))
    for decision in decisions:
        if decision.verdict is Verdict.UNAUTHENTICATED:
            raise _refused(decision)
    return {d.access.namespace for d in decisions if d.allowed}


def _ready(units: UnitCache) -> None:
    if not units.ready():
        raise HTTPException(503, "the shim's cache is not in sync with the API server yet")


def _rows(units: UnitCache, namespaces: set[str]) -> list[views.UnitSummary]:
    rows = [views.summary(u) for u in units.every_unit() if u.namespace in namespaces]
    return sorted(rows, key=lambda r: (r.namespace, r.name))


async def _unit(request: Request, services: Services, namespace: str, name: str) -> CachedUnit:
    await _require(request, services, Access(namespace, "get", name=name))
    _ready(services.units)
    unit = services.units.get(namespace, name)
    if unit is None:
        raise HTTPException(404, f"no deployment unit {namespace}/{name}")
    return unit


def _sse(event: str, body: BaseModel) -> bytes:
    return f"event: {event}\ndata: {body.model_dump_json(by_alias=True)}\n\n".encode()


class _Page(StaticFiles):
    """The built page, with headers that keep it from loading or being framed by anything else."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(_PAGE_HEADERS)
        # index.html names the hashed assets of the current build: always ask again for it.
        if not path.startswith("assets/"):
            response.headers["Cache-Control"] = "no-cache"
        return response


async def _get_feed(request: Request) -> UnitFeed:
    feed: UnitFeed = request.app.state.console_feed
    return feed


FeedDep = Annotated[UnitFeed, Depends(_get_feed)]

router = APIRouter(prefix=f"{PREFIX}/api", tags=["console"], include_in_schema=False)


@router.get("/session")
async def session(request: Request, services: ServicesDep) -> views.Session:
    """The auth mode, and whether the presented token is accepted (no right needed)."""
    decision = await _decide(request, services, Access(services.settings.namespace, "list"))
    return views.Session(
        auth_mode=services.settings.auth_mode.value,
        user=decision.caller.username if decision.caller else None,
        authenticated=decision.verdict is not Verdict.UNAUTHENTICATED,
    )


@router.get("/units")
async def units(request: Request, services: ServicesDep) -> views.UnitList:
    """Every unit of the namespaces the caller may list."""
    _ready(services.units)
    allowed = await _listable(request, services, _namespaces(services))
    return views.UnitList(units=_rows(services.units, allowed), namespaces=sorted(allowed))


@router.get("/stream")
async def stream(request: Request, services: ServicesDep, feed: FeedDep) -> StreamingResponse:
    """Server-sent events: `units` (the whole list) first, then `change` (rows that changed,
    keys that went) whenever the cache changes; a comment line as heartbeat."""
    _ready(services.units)
    allowed = await _listable(request, services, _namespaces(services))
    # Decided once per stream; namespaces that appear later are decided when they do.
    decided = {ns: ns in allowed for ns in _namespaces(services)}

    async def may_list(namespace: str) -> bool:
        if namespace not in decided:
            decision = await _decide(request, services, Access(namespace, "list"))
            decided[namespace] = decision.allowed
        return decided[namespace]

    async def events() -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        ends = loop.time() + STREAM_SECONDS
        sequence = feed.sequence
        shown = {ns for ns, ok in decided.items() if ok}
        yield _sse(
            "units", views.UnitList(units=_rows(services.units, shown), namespaces=sorted(shown))
        )
        while loop.time() < ends:
            if not await feed.wait(sequence, HEARTBEAT_SECONDS):
                if await request.is_disconnected():
                    return
                yield b": heartbeat\n\n"
                continue
            keys = feed.since(sequence)
            sequence = feed.sequence
            if keys is None:
                # Too far behind the log: the whole list again.
                shown = {ns for ns, ok in decided.items() if ok}
                rows = _rows(services.units, shown)
                yield _sse("units", views.UnitList(units=rows, namespaces=sorted(shown)))
                continue
            upserts: list[views.UnitSummary] = []
            deletes: list[views.UnitKey] = []
            for namespace, name in sorted(keys):
                if not await may_list(namespace):
                    continue
                unit = services.units.get(namespace, name)
                if unit is None:
                    deletes.append(views.UnitKey(namespace=namespace, name=name))
                else:
                    upserts.append(views.summary(unit))
            if upserts or deletes:
                yield _sse("change", views.UnitChanges(upserts=upserts, deletes=deletes))
        yield _sse("end", views.StreamEnd(reason="reconnect"))

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.get("/units/{namespace}/{name}")
async def unit(
    request: Request, services: ServicesDep, namespace: str, name: str
) -> views.UnitDetail:
    """A unit's page: resources, definitions, conditions, refusal and Events."""
    found = await _unit(request, services, namespace, name)
    events_error = None
    try:
        events = await services.kube.events.about(
            namespace, constants.DEPLOYMENT_UNIT_KIND, name, found.uid
        )
    except (ApiError, ApiUnavailable) as error:
        logger.warning("could not read the Events of %s/%s: %s", namespace, name, error)
        events, events_error = [], "the API server did not answer with the unit's Events"
    return views.detail(
        found, events, events_error=events_error, sources=await _unstored(request, services, found)
    )


async def _unstored(request: Request, services: Services, unit: CachedUnit) -> list[InlineResource]:
    """A failed unit's sources (it stored nothing), read from the API server since the cache
    keeps no source content: inline ones, and the ConfigMaps' that the caller may read itself."""
    if unit.status.resources or unit.status.status is not DeploymentStatus.DEPLOY_FAILED:
        return []
    try:
        stored = await services.kube.units.find(unit.namespace, unit.name)
        if stored is None:
            return []
        sources = stored.spec.resources
        if sources.inline:
            return list(sources.inline)
        found: list[InlineResource] = []
        for source in sources.config_maps or ():
            access = Access(unit.namespace, "get", "configmaps", source.name, group="")
            if not (await _decide(request, services, access)).allowed:
                continue
            data = (await services.kube.config_maps.get(unit.namespace, source.name)).get("data")
            for key, content in sorted((data or {}).items()):
                if source.keys is None or key in source.keys:
                    found.append(InlineResource.model_construct(name=key, content=str(content)))
        return found
    except (ApiError, ApiUnavailable, ValidationError) as error:
        logger.warning("could not read the sources of %s/%s: %s", unit.namespace, unit.name, error)
        return []


@router.get("/units/{namespace}/{name}/resources/{resource_id}")
async def resource(
    request: Request, services: ServicesDep, namespace: str, name: str, resource_id: str
) -> Response:
    """A resource's bytes, always as plain text to the browser (the page renders it)."""
    found = await _unit(request, services, namespace, name)
    stored = next((r for r in found.status.resources if r.id == resource_id), None)
    if stored is None:
        raise HTTPException(404, f"no resource {resource_id} in {namespace}/{name}")
    content = await services.content.read(namespace, stored)
    if content is None:
        raise HTTPException(404, f"the content of resource {stored.name} is gone")
    return Response(
        content,
        media_type="text/plain; charset=utf-8",
        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=3600"},
    )


@router.get("/versions/{namespace}/{key}")
async def versions(
    request: Request, services: ServicesDep, namespace: str, key: str
) -> views.VersionList:
    """Every version of a definition key across the namespace's units."""
    await _require(request, services, Access(namespace, "list"))
    _ready(services.units)
    found = [u for u in services.units.every_unit() if u.namespace == namespace]
    return views.VersionList(versions=views.versions(found, key))


async def _not_built(request: Request) -> Response:
    return Response(
        "The console is not built: run `make console` (needs Node.js) and start the shim again.",
        status_code=503,
        media_type="text/plain; charset=utf-8",
    )


def install(app: FastAPI) -> None:
    """Add the console's API and page to the shim (its feed is made in the lifespan)."""
    app.include_router(router)

    async def to_page(request: Request) -> Response:
        return RedirectResponse(f"{PREFIX}/", status_code=308)

    app.add_api_route(PREFIX, to_page, include_in_schema=False)
    if (STATIC / "index.html").is_file():
        app.mount(PREFIX, _Page(directory=STATIC, html=True), name="console")
    else:
        app.add_api_route(f"{PREFIX}/", _not_built, include_in_schema=False)
