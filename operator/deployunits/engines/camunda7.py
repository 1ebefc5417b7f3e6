"""An async client of the Camunda 7 REST API, for exactly the calls the operator makes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

import aiohttp
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from yarl import URL

from deployunits.engines.connection import Camunda7Connection, ClosingClient
from deployunits.engines.errors import (
    EngineError,
    EngineNotFound,
    EngineRefused,
    EngineUnavailable,
    classify,
)
from deployunits.engines.wire import (
    CaseDefinition,
    CountResult,
    DecisionDefinition,
    DecisionRequirementsDefinition,
    Deployment,
    DeploymentResource,
    DeploymentWithDefinitions,
    EngineVersion,
    ProcessDefinition,
    ProcessInstance,
    StartInstance,
)

__all__ = ["Camunda7Client", "DeploymentDefinitions", "NewDeployment", "NewResource"]

_Model = TypeVar("_Model", bound=BaseModel)
_T = TypeVar("_T")
#: A path below the base, one segment per item (ids are never split or joined).
Path = tuple[str, ...]
_CHUNK = 64 * 1024
# An error body is read this far: a ParseException lists every problem of every resource,
# about 1 KiB each; a longer body is cut (and then read as no engine exception).
_MAX_ERROR_BODY = 4 * 1024 * 1024


class NewResource(BaseModel):
    """One resource of a deployment to create: its name in the engine, and its bytes."""

    model_config = ConfigDict(frozen=True)

    # The name travels as a multipart header's filename: no control characters (line breaks
    # would start headers of their own).
    name: str = Field(min_length=1, pattern=r"^[^\x00-\x1f\x7f]+$")
    content: bytes = Field(repr=False)


class NewDeployment(BaseModel):
    """What POST /deployment/create sends (duplicate filtering is always off)."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(min_length=1)
    source: str | None = None
    tenant_id: str | None = None
    #: Process definitions start suspended, and the engine activates them at this time.
    activation_time: datetime | None = None
    resources: tuple[NewResource, ...] = Field(min_length=1)


class DeploymentDefinitions(BaseModel):
    """Every definition one deployment holds, by kind."""

    model_config = ConfigDict(frozen=True)

    processes: tuple[ProcessDefinition, ...] = ()
    decisions: tuple[DecisionDefinition, ...] = ()
    cases: tuple[CaseDefinition, ...] = ()
    decision_requirements: tuple[DecisionRequirementsDefinition, ...] = ()


def engine_time(moment: datetime) -> str:
    """A time in the engine's Jackson format (yyyy-MM-dd'T'HH:mm:ss.SSSZ)."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return (
        aware.strftime("%Y-%m-%dT%H:%M:%S.")
        + f"{aware.microsecond // 1000:03d}"
        + (aware.strftime("%z"))
    )


class Camunda7Client(ClosingClient):
    """Calls one Camunda 7 engine; every failure is an EngineError (see errors.py).

    Use as an async context manager, or call close(). A session may be passed in to share
    its connection pool; the client then leaves it open.
    """

    def __init__(
        self, connection: Camunda7Connection, session: aiohttp.ClientSession | None = None
    ) -> None:
        self.connection = connection
        self._base = connection.base()
        self._owns_session = session is None
        self._session = session or aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=connection.ssl_context()),
            timeout=aiohttp.ClientTimeout(
                total=connection.request_timeout, sock_connect=connection.connect_timeout
            ),
            # The engine is not asked to negotiate anything; its error bodies are JSON.
            headers={"Accept": "application/json"},
        )
        self._authorization = (
            connection.credentials.header() if connection.credentials is not None else None
        )

    def __repr__(self) -> str:
        return f"Camunda7Client({str(self._base)!r})"

    async def close(self) -> None:
        if self._owns_session:
            await self._session.close()

    # -- the calls --------------------------------------------------------------------------

    async def version(self) -> str:
        """The engine's version (GET /version), which also proves the credentials work."""
        return (await self._json("GET", ("version",), EngineVersion)).version

    async def create_deployment(self, deployment: NewDeployment) -> DeploymentWithDefinitions:
        """POST /deployment/create: every resource under its name, duplicate filtering off."""
        form = aiohttp.FormData(quote_fields=False)
        form.add_field("deployment-name", deployment.name)
        form.add_field("enable-duplicate-filtering", "false")
        form.add_field("deploy-changed-only", "false")
        if deployment.source is not None:
            form.add_field("deployment-source", deployment.source)
        if deployment.tenant_id is not None:
            form.add_field("tenant-id", deployment.tenant_id)
        if deployment.activation_time is not None:
            form.add_field("deployment-activation-time", engine_time(deployment.activation_time))
        for index, resource in enumerate(deployment.resources):
            # The engine names a resource by the part's filename; field names must only differ.
            form.add_field(
                f"resource-{index}",
                resource.content,
                filename=resource.name,
                content_type="application/octet-stream",
            )
        return await self._json(
            "POST", ("deployment", "create"), DeploymentWithDefinitions, data=form
        )

    async def deployments(
        self,
        *,
        source: str | None = None,
        name: str | None = None,
        tenant_id: str | None = None,
        without_tenant: bool = False,
        first_result: int | None = None,
        max_results: int | None = None,
    ) -> list[Deployment]:
        """GET /deployment filtered by exact source, name and tenant, oldest first, paged."""
        query: dict[str, str] = {"sortBy": "deploymentTime", "sortOrder": "asc"}
        if first_result is not None:
            query["firstResult"] = str(first_result)
        if max_results is not None:
            query["maxResults"] = str(max_results)
        if source is not None:
            query["source"] = source
        if name is not None:
            query["name"] = name
        if tenant_id is not None:
            query["tenantIdIn"] = tenant_id
        if without_tenant:
            query["withoutTenantId"] = "true"
        return await self._json_list("GET", ("deployment",), Deployment, params=query)

    async def deployment(self, deployment_id: str) -> Deployment | None:
        """GET /deployment/{id}; None when the engine has no such deployment."""
        try:
            return await self._json("GET", ("deployment", deployment_id), Deployment)
        except EngineNotFound:
            return None

    async def resources(self, deployment_id: str) -> list[DeploymentResource]:
        """GET /deployment/{id}/resources."""
        return await self._json_list(
            "GET", ("deployment", deployment_id, "resources"), DeploymentResource
        )

    async def resource_data(self, deployment_id: str, resource_id: str) -> bytes:
        """GET /deployment/{id}/resources/{rid}/data: the bytes as deployed."""
        path = ("deployment", deployment_id, "resources", resource_id, "data")
        operation, url = self._target("GET", path)
        limit = self.connection.max_resource_bytes

        async def read(response: aiohttp.ClientResponse) -> bytes:
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.content.iter_chunked(_CHUNK):
                size += len(chunk)
                if size > limit:
                    raise EngineRefused(f"{operation}: the resource is larger than {limit} bytes")
                chunks.append(chunk)
            return b"".join(chunks)

        return await self._call(operation, "GET", url, read, headers={"Accept": "*/*"})

    async def delete_deployment(self, deployment_id: str, *, cascade: bool) -> bool:
        """DELETE /deployment/{id}; False when it was already gone.

        Without cascade an engine with running instances refuses (ENGINE-03076).
        """
        params = {"cascade": "true" if cascade else "false"}
        operation, url = self._target("DELETE", ("deployment", deployment_id))

        async def done(response: aiohttp.ClientResponse) -> bool:
            return True

        try:
            return await self._call(operation, "DELETE", url, done, params=params)
        except EngineNotFound:
            return False

    async def process_definitions(self, deployment_id: str) -> list[ProcessDefinition]:
        """GET /process-definition?deploymentId=..."""
        return await self._definitions("process-definition", deployment_id, ProcessDefinition)

    async def decision_definitions(self, deployment_id: str) -> list[DecisionDefinition]:
        """GET /decision-definition?deploymentId=..."""
        return await self._definitions("decision-definition", deployment_id, DecisionDefinition)

    async def case_definitions(self, deployment_id: str) -> list[CaseDefinition]:
        """GET /case-definition?deploymentId=..."""
        return await self._definitions("case-definition", deployment_id, CaseDefinition)

    async def decision_requirements_definitions(
        self, deployment_id: str
    ) -> list[DecisionRequirementsDefinition]:
        """GET /decision-requirements-definition?deploymentId=..."""
        return await self._definitions(
            "decision-requirements-definition", deployment_id, DecisionRequirementsDefinition
        )

    async def definitions(self, deployment_id: str) -> DeploymentDefinitions:
        """Every definition of one deployment (four calls, made at once)."""
        processes, decisions, cases, requirements = await asyncio.gather(
            self.process_definitions(deployment_id),
            self.decision_definitions(deployment_id),
            self.case_definitions(deployment_id),
            self.decision_requirements_definitions(deployment_id),
        )
        return DeploymentDefinitions(
            processes=tuple(processes),
            decisions=tuple(decisions),
            cases=tuple(cases),
            decision_requirements=tuple(requirements),
        )

    async def count_instances(self, definition_id: str) -> int:
        """GET /process-instance/count?processDefinitionId=...: the definition's running
        instances (what keeps a deployment from being deleted without cascade)."""
        params = {"processDefinitionId": definition_id}
        found = await self._json("GET", ("process-instance", "count"), CountResult, params=params)
        return found.count

    async def start_process_instance(
        self, key: str, *, tenant_id: str | None = None, business_key: str | None = None
    ) -> ProcessInstance:
        """POST /process-definition/key/{key}[/tenant-id/{tenant}]/start, without variables."""
        path: Path = ("process-definition", "key", key)
        if tenant_id is not None:
            path = (*path, "tenant-id", tenant_id)
        body = StartInstance(business_key=business_key).model_dump(by_alias=True)
        return await self._json("POST", (*path, "start"), ProcessInstance, json=body)

    # -- plumbing ---------------------------------------------------------------------------

    def _target(self, method: str, path: Path) -> tuple[str, URL]:
        operation = f"{method} /{'/'.join(path)}"
        url = self._base
        for segment in path:
            # An id is one path segment: one with '/' or a dot segment would reach another path.
            if not segment or "/" in segment or segment in (".", ".."):
                raise EngineRefused(f"{operation}: {segment!r} is not a valid path segment")
            url = url / segment
        return operation, url

    async def _json(
        self,
        method: str,
        path: Path,
        model: type[_Model],
        **kwargs: Any,
    ) -> _Model:
        operation, url = self._target(method, path)

        async def parse(response: aiohttp.ClientResponse) -> _Model:
            raw = await response.read()
            try:
                return model.model_validate_json(raw)
            except ValidationError as error:
                raise EngineRefused(
                    f"{operation}: the engine's answer is not a {model.__name__}: "
                    f"{error.error_count()} error(s), first: {error.errors()[0]['msg']}"
                ) from None

        return await self._call(operation, method, url, parse, **kwargs)

    async def _json_list(
        self,
        method: str,
        path: Path,
        model: type[_Model],
        **kwargs: Any,
    ) -> list[_Model]:
        operation, url = self._target(method, path)
        adapter = TypeAdapter(list[model])  # type: ignore[valid-type]

        async def parse(response: aiohttp.ClientResponse) -> list[_Model]:
            raw = await response.read()
            try:
                parsed: list[_Model] = adapter.validate_json(raw)
            except ValidationError as error:
                raise EngineRefused(
                    f"{operation}: the engine's answer is not a list of {model.__name__}: "
                    f"{error.error_count()} error(s), first: {error.errors()[0]['msg']}"
                ) from None
            return parsed

        return await self._call(operation, method, url, parse, **kwargs)

    async def _definitions(
        self, resource: str, deployment_id: str, model: type[_Model]
    ) -> list[_Model]:
        return await self._json_list(
            "GET", (resource,), model, params={"deploymentId": deployment_id}
        )

    async def _call(
        self,
        operation: str,
        method: str,
        url: URL,
        handle: Callable[[aiohttp.ClientResponse], Awaitable[_T]],
        *,
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> _T:
        sent = dict(headers or {})
        if self._authorization is not None:
            sent["Authorization"] = self._authorization
        try:
            # No redirects: an engine's REST API does not send any, and following one could
            # carry the credentials to another host.
            async with self._session.request(
                method, url, headers=sent, allow_redirects=False, **kwargs
            ) as response:
                if response.status >= 400 or response.status in (301, 302, 303, 307, 308):
                    raw = await _read_bounded(response, _MAX_ERROR_BODY)
                    raise classify(operation, response.status, raw)
                return await handle(response)
        except EngineError:
            raise
        except TimeoutError:
            raise EngineUnavailable(
                f"{operation}: the engine did not answer within "
                f"{self.connection.request_timeout:g} s"
            ) from None
        except aiohttp.ClientError as error:
            # Raised without its cause: aiohttp's exceptions hold the request, headers included.
            raise EngineUnavailable(
                f"{operation}: cannot reach the engine at {self._base.host}:{self._base.port} "
                f"({type(error).__name__}: {_network_reason(error)})"
            ) from None


async def _read_bounded(response: aiohttp.ClientResponse, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(_CHUNK):
        chunks.append(chunk)
        size += len(chunk)
        if size >= limit:
            break
    return b"".join(chunks)[:limit]


def _network_reason(error: aiohttp.ClientError) -> str:
    if isinstance(error, aiohttp.ClientConnectorError):
        return str(error.os_error.strerror or error.os_error)
    if isinstance(error, aiohttp.ClientResponseError):
        return f"{error.status} {error.message}"
    return str(error) or "no detail"
