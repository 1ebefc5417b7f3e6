"""An async client of the Camunda 7 REST API, for exactly the calls the operator makes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any, TypeVar

import aiohttp
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from deployunits.engines.connection import Camunda7Connection
from deployunits.engines.errors import (
    EngineError,
    EngineNotFound,
    EngineRefused,
    classify,
)
from deployunits.engines.http import CHUNK, EngineHttpClient, Path
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


class Camunda7Client(EngineHttpClient):
    """Calls one Camunda 7 engine; every failure is an EngineError (see errors.py).

    Use as an async context manager, or call close(). A session may be passed in to share
    its connection pool; the client then leaves it open.
    """

    peer = "the engine"
    # A ParseException lists every problem of every resource, about 1 KiB each; a longer body
    # is cut (and then read as no engine exception).
    max_error_body = 4 * 1024 * 1024

    def __init__(
        self, connection: Camunda7Connection, session: aiohttp.ClientSession | None = None
    ) -> None:
        super().__init__(connection, connection.base(), session)

    def classify(self, operation: str, status: int, raw: bytes) -> EngineError:
        return classify(operation, status, raw)

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
            async for chunk in response.content.iter_chunked(CHUNK):
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
