"""The /business-central/rest/deployment routes: thin handlers over JbpmDeployments.

Dependencies come from `api/deps.py` as in the Camunda dialect; failures are answered by the
application's handlers, in this dialect's shape for paths under its prefix (`jbpm/errors.py`).
"""

from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Path, Request
from fastapi.responses import Response

from deployunits import constants
from deployunits.api.auth import Access, Authorizer, Decision
from deployunits.api.deps import AuthorizerDep, SettingsDep, authorize
from deployunits.api.jbpm import errors, wire
from deployunits.api.jbpm.ids import CONVERTOR, ROUTE_PATTERN
from deployunits.api.jbpm.service import JbpmDeployments, JbpmRuntime
from deployunits.settings import ShimSettings

_ID = "{deploymentId:" + CONVERTOR + "}"
_BODIES = {
    "content": {
        wire.XML_MEDIA_TYPE: {"schema": {"type": "string"}},
        wire.JSON_MEDIA_TYPE: {"schema": {"type": "object"}},
    }
}
_ERROR = {"description": "JaxbRestRequestException", "content": {wire.XML_MEDIA_TYPE: {}}}
#: An id outside the pattern matches no route: the JAX-RS runtime's bare 404.
_UNMATCHED = {"description": "No route for an id outside the pattern (no body)."}


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Runs inside the application's lifespan, after its services exist."""
    runtime = JbpmRuntime(app.state.services)
    app.state.jbpm = runtime
    runtime.start()
    try:
        yield
    finally:
        await runtime.stop()


async def _runtime(request: Request) -> JbpmRuntime:
    """The dialect's long-lived parts, which the router's lifespan keeps on the application."""
    runtime: JbpmRuntime = request.app.state.jbpm
    return runtime


async def _deployments(runtime: Annotated[JbpmRuntime, Depends(_runtime)]) -> JbpmDeployments:
    return JbpmDeployments(runtime)


Deployments = Annotated[JbpmDeployments, Depends(_deployments)]
DeploymentId = Annotated[
    str,
    Path(
        alias="deploymentId",
        description="groupId:artifactId:version[:kbase[:ksession]]",
        pattern=f"^{ROUTE_PATTERN}$",
    ),
]


async def _check(
    request: Request, settings: ShimSettings, authorizer: Authorizer, verb: str
) -> Decision:
    """The caller's decision for `verb` on units of the shim's namespace (the dialect's one)."""
    return await authorize(request, authorizer, Access(namespace=settings.namespace, verb=verb))


def _may(verb: str) -> Callable[..., Coroutine[Any, Any, Decision]]:
    async def check(request: Request, settings: SettingsDep, authorizer: AuthorizerDep) -> Decision:
        return await _check(request, settings, authorizer, verb)

    return check


CanList = Annotated[Decision, Depends(_may("list"))]
CanGet = Annotated[Decision, Depends(_may("get"))]
CanPatch = Annotated[Decision, Depends(_may("patch"))]


def _respond(request: Request, obj: wire.WireObject, status: int = 200) -> Response:
    body, media_type = wire.render(obj, wire.prefers_json(request.headers.get("accept")))
    return Response(body, status_code=status, media_type=media_type)


async def _descriptor(request: Request) -> wire.Descriptor | None:
    """The optional deployment descriptor body (XML or JSON)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > wire.MAX_DESCRIPTOR_BYTES:
        raise errors.bare(413)
    chunks = bytearray()
    async for chunk in request.stream():
        chunks += chunk
        if len(chunks) > wire.MAX_DESCRIPTOR_BYTES:
            raise errors.bare(413)
    body = bytes(chunks)
    if not body.strip():
        return None
    content_type = request.headers.get("content-type", wire.XML_MEDIA_TYPE)
    if not wire.is_supported_body(content_type):
        raise errors.bare(415)
    try:
        return wire.parse_descriptor(body, content_type)
    except wire.DescriptorError as error:
        raise errors.bad_request(f"Unable to read the deployment descriptor: {error}") from None


def jbpm_router() -> APIRouter:
    """Everything under /business-central/rest (one namespace: the shim's own)."""
    router = APIRouter(
        prefix=constants.JBPM_PREFIX,
        lifespan=_lifespan,
        tags=["jBPM deployments"],
        responses={401: _ERROR, 403: _ERROR, 503: _ERROR},
    )

    @router.get(
        "/deployment/",
        response_class=Response,
        responses={200: _BODIES, 400: _ERROR},
        summary="Deployed units, sorted by id (paging: page|p, pagesize|s)",
    )
    async def get_deployments(request: Request, deployments: Deployments, _: CanList) -> Response:
        found = deployments.units(request.query_params.multi_items(), request.url.path)
        return _respond(request, found)

    router.add_api_route(
        "/deployment",
        get_deployments,
        methods=["GET"],
        response_class=Response,
        include_in_schema=False,
    )

    @router.get(
        "/deployment/processes",
        response_class=Response,
        responses={200: _BODIES, 400: _ERROR},
        summary="Process definitions of every deployed unit",
    )
    async def get_all_processes(request: Request, deployments: Deployments, _: CanList) -> Response:
        found = deployments.all_processes(request.query_params.multi_items(), request.url.path)
        return _respond(request, found)

    @router.get(
        f"/deployment/{_ID}",
        response_class=Response,
        responses={404: _UNMATCHED, 200: _BODIES},
        summary="One deployment unit and its status",
    )
    async def get_deployment(
        request: Request, deployment_id: DeploymentId, deployments: Deployments, _: CanGet
    ) -> Response:
        return _respond(request, deployments.unit(deployment_id))

    @router.post(
        f"/deployment/{_ID}/deploy",
        status_code=202,
        response_class=Response,
        responses={404: _UNMATCHED, 202: _BODIES, 400: _ERROR},
        summary="Submit a deploy job (strategy, mergemode; optional deployment descriptor)",
    )
    async def deploy(
        request: Request,
        deployment_id: DeploymentId,
        deployments: Deployments,
        settings: SettingsDep,
        authorizer: AuthorizerDep,
    ) -> Response:
        verb = "create" if deployments.creates(deployment_id) else "patch"
        await _check(request, settings, authorizer, verb)
        descriptor = await _descriptor(request)
        result = await deployments.deploy(
            deployment_id, request.query_params.multi_items(), request.url.path, descriptor
        )
        return _respond(request, result, 202)

    router.add_api_route(
        f"/deployment/{_ID}/deploy",
        deploy,
        methods=["PUT"],
        status_code=202,
        response_class=Response,
        responses={404: _UNMATCHED, 202: _BODIES, 400: _ERROR},
        summary="Submit a deploy job with a deployment descriptor (kie-remote 6.5.1+)",
        operation_id="deploy_with_descriptor",
    )

    @router.post(
        f"/deployment/{_ID}/undeploy",
        status_code=202,
        response_class=Response,
        responses={404: _UNMATCHED, 202: _BODIES},
        summary="Submit an undeploy job",
    )
    async def undeploy(
        request: Request, deployment_id: DeploymentId, deployments: Deployments, _: CanPatch
    ) -> Response:
        return _respond(request, await deployments.undeploy(deployment_id), 202)

    @router.get(
        f"/deployment/{_ID}/processes",
        response_class=Response,
        responses={404: _UNMATCHED, 200: _BODIES, 400: _ERROR},
        summary="Process definitions of one deployment (paging: page|p, pagesize|s)",
    )
    async def get_processes(
        request: Request, deployment_id: DeploymentId, deployments: Deployments, _: CanGet
    ) -> Response:
        found = deployments.processes(
            deployment_id, request.query_params.multi_items(), request.url.path
        )
        return _respond(request, found)

    return router


def add_links(paths: dict[str, dict[str, Any]]) -> None:
    """OpenAPI links from a deploy or undeploy job to the calls on the same deployment id.

    The job's answer does not repeat the id as one value, so the links take it from the
    request's path (the deployment the job is about).
    """
    base = f"{constants.JBPM_PREFIX}/deployment/{{deploymentId}}"
    parameters = {"deploymentId": "$request.path.deploymentId"}
    targets = {
        "GetDeployment": (base, "get"),
        "GetProcesses": (f"{base}/processes", "get"),
        "Deploy": (f"{base}/deploy", "post"),
        "Undeploy": (f"{base}/undeploy", "post"),
    }
    for source in (f"{base}/deploy", f"{base}/undeploy"):
        for method, operation in paths.get(source, {}).items():
            if method not in ("post", "put"):
                continue
            operation["responses"]["202"]["links"] = {
                name: {"operationId": paths[target][verb]["operationId"], "parameters": parameters}
                for name, (target, verb) in targets.items()
                if verb in paths.get(target, {})
            }
