"""The /deployment routes, mounted for the default engine and for /engine/{name}: thin handlers."""

import json
import re
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse, Response

from deployunits import constants
from deployunits.api.auth import Access, Decision
from deployunits.api.cache import UnitReads
from deployunits.api.camunda import openapi, query, schemas, wire
from deployunits.api.camunda.bound import BoundUnits
from deployunits.api.camunda.errors import CamundaError, invalid_request, no_engine, web_error
from deployunits.api.camunda.multipart import CreateForm, create_form
from deployunits.api.camunda.passthrough import passthrough_router
from deployunits.api.camunda.schemas import (
    CountResultDto,
    DeploymentDto,
    DeploymentResourceDto,
    DeploymentWithDefinitionsDto,
)
from deployunits.api.camunda.service import NO_ENGINE, CamundaDeployments, RedeployRequest
from deployunits.api.deps import (
    AuthorizerDep,
    NamedEnginesDep,
    ServicesDep,
    SettingsDep,
    UnitsDep,
    authorize,
)
from deployunits.api.named_engines import NamedEngines
from deployunits.k8s.errors import ApiError, ApiUnavailable
from deployunits.reconcile.deploymentunit import Limits, NamedContent, size_problem
from deployunits.settings import AuthMode, ShimSettings

#: The engine version the shim answers like.
ENGINE_VERSION = "7.24.0"


def names_of(units: UnitReads, namespace: str) -> query.NameIndex:
    """The namespace's units by name, kept until they change."""
    return units.derived(namespace, "names", lambda: query.by_name(units.deployments(namespace)))


def _checked(namespace: str, units: UnitsDep) -> str:
    if not units.serves(namespace):
        raise invalid_request(400, NO_ENGINE)
    units.ensure_ready(namespace)  # CacheNotReady: 503 with Retry-After
    return namespace


# Dependencies are coroutines, as in `api/deps.py`: plain functions would run in a thread pool.


async def default_engine(settings: SettingsDep, units: UnitsDep) -> str:
    """The default engine: the shim's own namespace."""
    return _checked(settings.namespace, units)


async def named_engine(
    engine: Annotated[str, Path(description="The engine name: a namespace.")],
    units: UnitsDep,
    named_engines: NamedEnginesDep,
    settings: SettingsDep,
) -> str:
    """A named engine: the namespace of that name, if the shim serves it and it exists."""
    if not await named_engines.exists(engine):
        raise no_engine(engine, authenticating=settings.auth_mode is not AuthMode.NONE)
    return _checked(engine, units)


#: The named engine a path under /engine-rest addresses.
_NAMED_PATH = re.compile(rf"^{re.escape(constants.CAMUNDA_PREFIX)}/engine/(?P<name>[^/]+)/")


async def unmatched_under_missing_engine(request: Request) -> CamundaError | None:
    """The engine's answer to a path no route matches under a named engine that does not exist,
    where it differs from the runtime's 404 or 405: with authentication on (`no_engine`)."""
    settings: ShimSettings = request.app.state.settings
    match = _NAMED_PATH.match(request.url.path)
    if match is None or settings.auth_mode is AuthMode.NONE:
        return None
    named_engines: NamedEngines = request.app.state.services.named_engines
    name = match["name"]
    try:
        if await named_engines.exists(name):
            return None
    except (ApiError, ApiUnavailable):
        return None  # the runtime's answer stands; the API server is asked again next time
    return no_engine(name, authenticating=True)


EngineDependency = Callable[..., Coroutine[Any, Any, str]]


DeploymentId = Annotated[str, Path(alias="id", description="The deployment id.")]
ResourceId = Annotated[str, Path(alias="resourceId", description="The resource id.")]


def _json(body: bytes) -> Response:
    """An answer of JSON bytes a DTO of `schemas.py` wrote."""
    return Response(body, media_type="application/json")


async def _body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise web_error(413)
    chunks = bytearray()
    async for chunk in request.stream():
        chunks += chunk
        if len(chunks) > limit:
            raise web_error(413)
    return bytes(chunks)


def _check_limits(form: CreateForm, settings: ShimSettings) -> None:
    """Refuse an upload the operator would refuse for its size, before anything is stored."""
    if len(form.resources) > settings.max_resources_per_deployment:
        raise invalid_request(
            400,
            f"The deployment has {len(form.resources)} resources, more than the limit of "
            f"{settings.max_resources_per_deployment}.",
        )
    limits = Limits(
        max_resource_bytes=settings.max_resource_bytes, max_unit_bytes=settings.max_unit_bytes
    )
    problem = size_problem([NamedContent(n, c) for n, c in form.resources], limits)
    if problem is not None:
        raise invalid_request(400, f"The deployment is refused: {problem}.")


def _redeploy_request(body: bytes) -> RedeployRequest | None:
    """The optional RedeploymentDto; malformed JSON or wrong types → 400 with an empty message."""
    if not body.strip():
        return None
    try:
        data = json.loads(body)
    except ValueError:
        raise invalid_request(400, "") from None
    if data is None:
        return None
    if not isinstance(data, dict):
        raise invalid_request(400, "")

    def strings(key: str) -> tuple[str, ...]:
        value = data.get(key)
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise invalid_request(400, "")
        return tuple(value)

    source = data.get("source")
    if source is not None and not isinstance(source, str):
        raise invalid_request(400, "")
    return RedeployRequest(strings("resourceIds"), strings("resourceNames"), source)


def build_router(engine: EngineDependency, *, named: bool) -> APIRouter:
    """The deployment routes for one way of addressing the engine."""
    router = APIRouter(tags=["Deployment"] if not named else ["Deployment (named engine)"])
    # Type aliases local to this router (its engine dependency differs per mount).
    Engine = Annotated[str, Depends(engine)]  # noqa: N806

    async def deployments_of(namespace: Engine, services: ServicesDep) -> CamundaDeployments:
        bound_to = services.bindings.engine_of(namespace)
        if bound_to is None:
            return CamundaDeployments(services.units, services.writer, services.content)
        bound = BoundUnits(services.bound, services.units, bound_to)
        return CamundaDeployments(
            services.units, services.writer, services.content, bound, services.bindings
        )

    Deployments = Annotated[CamundaDeployments, Depends(deployments_of)]  # noqa: N806

    def may(
        verb: str, resource: str = constants.DEPLOYMENT_UNIT_PLURAL
    ) -> Callable[..., Coroutine[Any, Any, Decision]]:
        async def check(request: Request, namespace: Engine, authorizer: AuthorizerDep) -> Decision:
            access = Access(namespace=namespace, verb=verb, resource=resource)
            return await authorize(request, authorizer, access)

        return check

    CanList = Annotated[Decision, Depends(may("list"))]  # noqa: N806
    CanGet = Annotated[Decision, Depends(may("get"))]  # noqa: N806
    CanCreate = Annotated[Decision, Depends(may("create"))]  # noqa: N806
    CanRedeploy = Annotated[Decision, Depends(may("create", constants.REDEPLOY_PLURAL))]  # noqa: N806
    CanDelete = Annotated[Decision, Depends(may("delete"))]  # noqa: N806

    def base_url(request: Request, namespace: str) -> str:
        root = str(request.base_url).rstrip("/") + constants.CAMUNDA_PREFIX
        return f"{root}/engine/{namespace}" if named else root

    @router.get(
        "/deployment",
        response_model=list[DeploymentDto],
        responses=openapi.errors(400, 404),
        openapi_extra=openapi.LIST,
        summary="Deployments matching the filters",
    )
    async def get_deployments(
        request: Request, namespace: Engine, deployments: Deployments, _: CanList
    ) -> Response:
        parsed = query.parse_query(request.query_params.multi_items())
        units = deployments.units
        found = query.run(
            parsed,
            lambda name, key: units.sorted_view(namespace, name, key),
            lambda: names_of(units, namespace),
        )
        return _json(schemas.deployments_json([wire.deployment(u) for u in found]))

    @router.get(
        "/deployment/count",
        response_model=CountResultDto,
        responses=openapi.errors(400),
        openapi_extra=openapi.COUNT,
        summary="How many deployments match the filters",
    )
    async def get_deployments_count(
        request: Request, namespace: Engine, deployments: Deployments, _: CanList
    ) -> Response:
        parsed = query.parse_query(request.query_params.multi_items(), paging=False)
        units = deployments.units
        count = query.count(
            parsed, units.deployments(namespace), lambda: names_of(units, namespace)
        )
        return _json(schemas.dump_json(CountResultDto.model_construct(count=count)))

    @router.get(
        "/deployment/registered",
        response_model=list[str],
        responses=openapi.errors(),
        summary="Ids of the deployments this engine serves",
    )
    async def get_registered_deployments(
        namespace: Engine, deployments: Deployments, _: CanList
    ) -> Response:
        units = deployments.units.deployments(namespace)
        return JSONResponse(sorted(u.deployment_id for u in units))

    @router.post(
        "/deployment/create",
        response_model=DeploymentWithDefinitionsDto,
        responses=openapi.create_errors(),
        openapi_extra=openapi.CREATE,
        summary="Deploy the uploaded resources",
    )
    async def create_deployment(
        request: Request,
        namespace: Engine,
        deployments: Deployments,
        settings: SettingsDep,
        _: CanCreate,
    ) -> Response:
        content_type = request.headers.get("content-type", "")
        if not content_type.lower().startswith("multipart/form-data"):
            raise web_error(415)
        form = create_form(content_type, await _body(request, settings.max_request_bytes))
        _check_limits(form, settings)
        body = await deployments.create(namespace, form, base_url(request, namespace))
        return JSONResponse(body)

    @router.get(
        "/deployment/{id}",
        response_model=DeploymentDto,
        responses=openapi.errors(404),
        summary="One deployment",
    )
    async def get_deployment(
        namespace: Engine, deployment_id: DeploymentId, deployments: Deployments, _: CanGet
    ) -> Response:
        return _json(schemas.dump_json(wire.deployment(deployments.get(namespace, deployment_id))))

    @router.post(
        "/deployment/{id}/redeploy",
        response_model=DeploymentWithDefinitionsDto,
        responses=openapi.errors(400, 404, 413),
        openapi_extra=openapi.REDEPLOY,
        summary="Deploy some or all resources of a deployment again",
    )
    async def redeploy(
        request: Request,
        namespace: Engine,
        deployment_id: DeploymentId,
        deployments: Deployments,
        settings: SettingsDep,
        _: CanRedeploy,
    ) -> Response:
        body = _redeploy_request(await _body(request, settings.max_request_bytes))
        answer = await deployments.redeploy(
            namespace, deployment_id, body, base_url(request, namespace)
        )
        return JSONResponse(answer)

    @router.get(
        "/deployment/{id}/resources",
        response_model=list[DeploymentResourceDto],
        responses=openapi.errors(404),
        summary="The resources of a deployment",
    )
    async def get_deployment_resources(
        namespace: Engine, deployment_id: DeploymentId, deployments: Deployments, _: CanGet
    ) -> Response:
        unit = deployments.resources_of(namespace, deployment_id)
        return _json(schemas.resources_json(wire.resources(unit)))

    @router.get(
        "/deployment/{id}/resources/{resourceId}",
        response_model=DeploymentResourceDto,
        responses=openapi.errors(404),
        summary="One resource of a deployment",
    )
    async def get_deployment_resource(
        namespace: Engine,
        deployment_id: DeploymentId,
        resource_id: ResourceId,
        deployments: Deployments,
        _: CanGet,
    ) -> Response:
        return JSONResponse(deployments.resource(namespace, deployment_id, resource_id))

    @router.get(
        "/deployment/{id}/resources/{resourceId}/data",
        response_class=Response,
        responses=openapi.errors(404),
        openapi_extra=openapi.DATA,
        summary="The content of one resource",
    )
    async def get_deployment_resource_data(
        namespace: Engine,
        deployment_id: DeploymentId,
        resource_id: ResourceId,
        deployments: Deployments,
        _: CanGet,
    ) -> Response:
        content, media_type, disposition = await deployments.data(
            namespace, deployment_id, resource_id
        )
        # As a header rather than a media type: Starlette would add a charset to text/*, which
        # the engine does not.
        return Response(
            content, headers={"Content-Type": media_type, "Content-Disposition": disposition}
        )

    @router.delete(
        "/deployment/{id}",
        status_code=204,
        response_class=Response,
        responses=openapi.errors(404),
        openapi_extra=openapi.DELETE,
        summary="Delete a deployment",
    )
    async def delete_deployment(
        request: Request,
        namespace: Engine,
        deployment_id: DeploymentId,
        deployments: Deployments,
        _: CanDelete,
    ) -> Response:
        # cascade, skipCustomListeners and skipIoMappings count only for a first value of
        # exactly "true"; unbound units have no instances, listeners or mappings for them to
        # change, and a bound engine's running instances decide with cascade.
        cascade = request.query_params.getlist("cascade")[:1] == ["true"]
        await deployments.delete(namespace, deployment_id, cascade=cascade)
        return Response(status_code=204)

    return router


def engine_router(settings_namespaces: list[str], default_namespace: str) -> APIRouter:
    """GET /engine and /version, the two calls clients make to find the engine."""
    router = APIRouter(tags=["Engine"])

    @router.get("/engine", summary="The engines (namespaces) the shim serves")
    async def get_named_engines() -> list[dict[str, str]]:
        names = settings_namespaces or [default_namespace]
        return [{"name": name} for name in names]

    @router.get("/version", summary="The engine version the shim answers like")
    async def get_version() -> dict[str, str]:
        return {"version": ENGINE_VERSION}

    return router


def camunda_router(settings: ShimSettings) -> APIRouter:
    """Everything under /engine-rest; with bound engines, the pass-through too."""
    router = APIRouter(prefix=constants.CAMUNDA_PREFIX)
    bindings = settings.bindings()
    if bindings:
        # First: forwarded calls are the bound shim's most frequent ones.
        router.include_router(passthrough_router(default_bound=settings.namespace in bindings))
    router.include_router(build_router(default_engine, named=False))
    router.include_router(
        build_router(named_engine, named=True),
        prefix="/engine/{engine}",
        generate_unique_id_function=lambda route: f"named_{route.name}",
    )
    router.include_router(engine_router(settings.namespaces, settings.namespace))
    return router
