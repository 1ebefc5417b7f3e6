"""An async client of the KIE Server REST API (jBPM 7), for exactly the calls the operator makes."""

from __future__ import annotations

import asyncio
import json
from typing import Any, TypeVar

import aiohttp
from pydantic import BaseModel, ValidationError
from yarl import URL

from deployunits.engines.connection import KieServerConnection
from deployunits.engines.errors import (
    UNAVAILABLE_STATUSES,
    EngineError,
    EngineNotFound,
    EngineRefused,
    EngineUnauthorized,
    EngineUnavailable,
    unauthorized_message,
    unavailable_message,
)
from deployunits.engines.http import EngineHttpClient, Path
from deployunits.engines.kie_wire import (
    ConfigItem,
    Container,
    ContainerStatus,
    ProcessDefinition,
    ProcessDefinitionList,
    ProcessInstance,
    ProcessInstanceList,
    ReleaseId,
    ServerInfo,
    ServiceResponse,
    VariablesDefinition,
    container_body,
)

__all__ = [
    "KieServerClient",
    "KieServerConnection",
    "MissingKjar",
    "classify_kie",
]

_Model = TypeVar("_Model", bound=BaseModel)
_T = TypeVar("_T")
_MAX_MESSAGE = 4096
#: How the server says a container id is unknown (it answers 200 FAILURE or a 500 with it).
_NOT_INSTANTIATED = ("is not instantiated", "cannot find container")
#: Definitions read per container: a kjar holds a few dozen processes at most.
_PAGE = 1000
#: Variables of this many processes are read at once.
_PARALLEL = 8


class MissingKjar(EngineRefused):
    """The server cannot resolve the kjar from its Maven settings ("Cannot find KieModule")."""


def classify_kie(operation: str, status: int, raw: bytes) -> EngineError:
    """The failure a KIE Server answer with this status means (for any status >= 400, or a
    200 FAILURE), from its ServiceResponse or its plain-text body."""
    said = _said(raw)[:_MAX_MESSAGE]
    suffix = f": {said}" if said else ""
    if status in (401, 403):
        rights = "that the user has the kie-server role"
        message = unauthorized_message(operation, status, "the KIE Server", rights)
        return EngineUnauthorized(message, status=status)
    if status in UNAVAILABLE_STATUSES:
        message = unavailable_message(operation, status, "the KIE Server") + suffix
        return EngineUnavailable(message, status=status)
    lowered = said.lower()
    if any(marker in lowered for marker in _NOT_INSTANTIATED) or status == 404:
        return EngineNotFound(f"{operation}: the KIE Server has no such container{suffix}")
    if "cannot find kiemodule" in lowered:
        return MissingKjar(f"{operation}: the KIE Server refused ({status}){suffix}", status=status)
    if status >= 500 and not said:
        return EngineUnavailable(
            f"{operation}: the KIE Server answered {status} with no message", status=status
        )
    return EngineRefused(f"{operation}: the KIE Server refused ({status}){suffix}", status=status)


def _said(raw: bytes) -> str:
    """The message of a ServiceResponse, or the plain text the server answered."""
    try:
        loaded = json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace").strip()
    if isinstance(loaded, str):
        return loaded.strip()
    if isinstance(loaded, dict):
        try:
            return (ServiceResponse.model_validate(loaded).msg or "").strip()
        except ValidationError:
            pass
    return raw.decode(errors="replace").strip()


class KieServerClient(EngineHttpClient):
    """Calls one KIE Server; every failure is an EngineError (see errors.py and classify_kie).

    Use as an async context manager, or call close().
    """

    peer = "the KIE Server"
    max_error_body = 64 * 1024

    def __init__(
        self, connection: KieServerConnection, session: aiohttp.ClientSession | None = None
    ) -> None:
        super().__init__(connection, URL(connection.url), session)

    def classify(self, operation: str, status: int, raw: bytes) -> EngineError:
        return classify_kie(operation, status, raw)

    # -- the calls --------------------------------------------------------------------------

    async def info(self) -> ServerInfo:
        """GET /: the server's version and capabilities (also proves the credentials work)."""
        answer = await self._service("GET", ())
        if answer.result is None or answer.result.kie_server_info is None:
            raise EngineRefused("GET /: the KIE Server's answer holds no kie-server-info")
        return answer.result.kie_server_info

    async def version(self) -> str:
        """The server's version (GET /)."""
        return (await self.info()).version

    async def containers(self) -> list[Container]:
        """GET /containers: every container, whatever its status."""
        answer = await self._service("GET", ("containers",))
        listed = answer.result.kie_containers if answer.result is not None else None
        return list(listed.kie_container or ()) if listed is not None else []

    async def container(self, container_id: str) -> Container | None:
        """GET /containers/{id}; None when the server has no such container."""
        try:
            answer = await self._service("GET", ("containers", container_id))
        except EngineNotFound:
            return None
        return answer.result.kie_container if answer.result is not None else None

    async def create_container(
        self, container_id: str, release: ReleaseId, settings: tuple[tuple[str, str], ...]
    ) -> Container:
        """PUT /containers/{id}: resolve the kjar, build its kbase and start the container.

        A kjar the server cannot resolve raises MissingKjar; a kjar that does not build,
        EngineRefused with the server's message (the container is then left FAILED).
        """
        items = [ConfigItem(itemName=name, itemValue=value) for name, value in settings]
        body = container_body(container_id, release, items)
        answer = await self._service("PUT", ("containers", container_id), json=body)
        created = answer.result.kie_container if answer.result is not None else None
        if created is None:
            raise EngineRefused(
                f"PUT /containers/{container_id}: the KIE Server's answer holds no container"
            )
        if created.status is not ContainerStatus.STARTED:
            raise EngineRefused(
                f"PUT /containers/{container_id}: the container is {created.status}: "
                f"{created.said() or answer.msg or 'no message'}"
            )
        return created

    async def dispose_container(self, container_id: str) -> bool:
        """DELETE /containers/{id}, which aborts its running instances; False when it was
        not there."""
        answer = await self._service("DELETE", ("containers", container_id))
        return "not instantiated" not in (answer.msg or "")

    async def process_definitions(self, container_id: str) -> list[ProcessDefinition]:
        """The container's process definitions with their variables (one call for the list,
        one per process for its variables, which the listing leaves out)."""
        path = ("queries", "containers", container_id, "processes", "definitions")
        params = {"page": "0", "pageSize": str(_PAGE)}
        listed = await self._json("GET", path, ProcessDefinitionList, params=params)
        limit = asyncio.Semaphore(_PARALLEL)

        async def with_variables(definition: ProcessDefinition) -> ProcessDefinition:
            async with limit:
                found = await self._json(
                    "GET",
                    (
                        "containers",
                        container_id,
                        "processes",
                        "definitions",
                        definition.id,
                        "variables",
                    ),
                    VariablesDefinition,
                )
            return definition.model_copy(update={"process_variables": found.variables})

        return list(await asyncio.gather(*(with_variables(d) for d in listed.processes or ())))

    async def active_instances(self, container_id: str, limit: int = 100) -> list[int]:
        """The ids of the container's active process instances (status 1), at most `limit`."""
        path = ("queries", "containers", container_id, "process", "instances")
        params = {"status": "1", "page": "0", "pageSize": str(limit)}
        found = await self._json("GET", path, ProcessInstanceList, params=params)
        return [instance.id for instance in found.process_instance or ()]

    async def instance_state(self, instance: int) -> int | None:
        """A process instance's state (1 active, 2 completed, 3 aborted, ...)."""
        path = ("queries", "processes", "instances", str(instance))
        return (await self._json("GET", path, ProcessInstance)).state

    async def start_process(self, container_id: str, process_id: str) -> int:
        """POST /containers/{id}/processes/{pid}/instances without variables: the new id."""
        path = ("containers", container_id, "processes", process_id, "instances")
        operation, url = self._target("POST", path)

        async def read(response: aiohttp.ClientResponse) -> int:
            return int(json.loads(await response.read()))

        return await self._call(operation, "POST", url, read, json={})

    # -- plumbing ---------------------------------------------------------------------------

    async def _service(self, method: str, path: Path, **kwargs: Any) -> ServiceResponse:
        """A call answered with a ServiceResponse; a FAILURE raises like an error status."""
        operation, url = self._target(method, path)

        async def parse(response: aiohttp.ClientResponse) -> ServiceResponse:
            raw = await response.read()
            try:
                answer = ServiceResponse.model_validate_json(raw)
            except ValidationError:
                raise EngineRefused(
                    f"{operation}: the KIE Server's answer is not a ServiceResponse"
                ) from None
            if answer.type != "SUCCESS":
                raise classify_kie(operation, response.status, raw)
            return answer

        return await self._call(operation, method, url, parse, **kwargs)
