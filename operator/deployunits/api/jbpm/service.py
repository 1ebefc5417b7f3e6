"""The jBPM semantics of each /deployment operation, over the index, the queue and the cache.

`JbpmRuntime` holds what lives as long as the application (index, job queue, materializer);
`JbpmDeployments` answers one request with wire objects.
"""

import logging
import os
import socket
import uuid

from deployunits.api.cache import CachedUnit, UnitCache
from deployunits.api.deps import Services
from deployunits.api.jbpm import errors, jobs, params
from deployunits.api.jbpm.index import JbpmIndex
from deployunits.api.jbpm.jobs import Record, Request
from deployunits.api.jbpm.materializer import Materializer
from deployunits.api.jbpm.params import PageInfo, ParamError, Params
from deployunits.api.jbpm.queue import JobQueue, QueueBusy
from deployunits.api.jbpm.wire import (
    DeploymentJobResult,
    Descriptor,
    JaxbDeploymentStatus,
    JaxbDeploymentUnit,
    JaxbDeploymentUnitList,
    ProcessDefinition,
    ProcessDefinitionList,
)
from deployunits.models.deploymentunit import JobOperation

logger = logging.getLogger(__name__)

#: Process definitions fetched per deployment when the client asks for no paging (the engine
#: queries the runtime data service with a page of 10).
UNPAGED_PROCESSES_PER_DEPLOYMENT = 10


def replica_id() -> str:
    """A name for this shim process, unique enough to tell replicas apart in the ledger."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class JbpmRuntime:
    """The dialect's long-lived parts for the shim's namespace."""

    def __init__(self, services: Services, *, replica: str | None = None) -> None:
        settings = services.settings
        self.namespace = settings.namespace
        self.units: UnitCache = services.units
        self.index = JbpmIndex(self.namespace)
        self.queue = JobQueue(
            services.kube,
            services.units,
            self.index,
            namespace=self.namespace,
            limit=settings.job_queue_limit,
            replica=replica or replica_id(),
            on_admitted=self._admitted,
        )
        repository = settings.maven_repository
        self.materializer = Materializer(
            services.kube,
            self.queue,
            namespace=self.namespace,
            repository=str(repository) if repository is not None else None,
        )

    def _admitted(self, record: Record) -> None:
        self.materializer.submit(record)

    def start(self) -> None:
        self.units.add_listener(self.index.update)
        self.queue.start()
        self.materializer.start()

    async def stop(self) -> None:
        await self.materializer.stop()
        await self.queue.stop()


def _process(unit: CachedUnit) -> list[ProcessDefinition]:
    """The unit's process definitions sorted by id, as JaxbProcessDefinitions."""
    if not jobs.is_deployed(unit):
        return []
    definitions = [d for d in unit.status.definitions if d.kind == "process"]
    definitions.sort(key=lambda d: d.key)
    return [
        ProcessDefinition(
            id=d.key,
            name=d.name,
            version=d.model_version,
            package_name=d.package_name,
            deployment_id=unit.deployment_id,
            variables=tuple((v.name, v.type) for v in d.variables or ()),
        )
        for d in definitions
    ]


class JbpmDeployments:
    """One request's view of the dialect."""

    def __init__(self, runtime: JbpmRuntime) -> None:
        self._runtime = runtime
        self._queue = runtime.queue
        self._index = runtime.index

    def ensure_ready(self) -> None:
        """503 until the cache of the namespace is in sync with the API server."""
        units = self._runtime.units
        if not units.serves(self._runtime.namespace):
            raise errors.internal(
                f"The shim does not serve namespace '{self._runtime.namespace}'; add it to "
                "DEPLOYUNITS_NAMESPACES."
            )
        units.ensure_ready(self._runtime.namespace)

    # Reads.

    def unit(self, deployment_id: str) -> JaxbDeploymentUnit:
        """GET /deployment/{id}."""
        self.ensure_ready()
        return jobs.describe(self._queue.state(deployment_id))

    def units(self, query: Params, operation: str) -> JaxbDeploymentUnitList:
        """GET /deployment/: deployed units sorted by id, paged."""
        info = _page_info(query, operation)
        self.ensure_ready()
        deployed = params.capped(self._index.deployed(), info)
        page, number, size = params.paginate(deployed, info)
        return JaxbDeploymentUnitList(
            [
                jobs.wire_unit(
                    u.deployment_id,
                    u.spec.strategy or jobs.DEFAULT_STRATEGY,
                    JaxbDeploymentStatus.DEPLOYED,
                )
                for u in page
            ],
            number,
            size,
        )

    def processes(self, deployment_id: str, query: Params, operation: str) -> ProcessDefinitionList:
        """GET /deployment/{id}/processes."""
        info = _page_info(query, operation)
        self.ensure_ready()
        unit = self._index.unit_for(deployment_id)
        found = _process(unit) if unit is not None else []
        if not info.paged:
            found = found[:UNPAGED_PROCESSES_PER_DEPLOYMENT]
        page, number, size = params.paginate(params.capped(found, info), info)
        return ProcessDefinitionList(page, number, size)

    def all_processes(self, query: Params, operation: str) -> ProcessDefinitionList:
        """GET /deployment/processes: the definitions of every deployed unit, by id."""
        info = _page_info(query, operation)
        self.ensure_ready()
        limit = info.max_results
        found: list[ProcessDefinition] = []
        for unit in self._index.deployed():
            definitions = _process(unit)
            if not info.paged:
                definitions = definitions[:UNPAGED_PROCESSES_PER_DEPLOYMENT]
            found.extend(definitions)
            if len(found) >= limit:
                break
        page, number, size = params.paginate(params.capped(found, info), info)
        return ProcessDefinitionList(page, number, size)

    # Jobs.

    def creates(self, deployment_id: str) -> bool:
        """Whether a deploy of the id would create its unit (for authorization)."""
        return self._index.unit_for(deployment_id) is None

    async def deploy(
        self,
        deployment_id: str,
        query: Params,
        operation: str,
        descriptor: Descriptor | None,
    ) -> DeploymentJobResult:
        """POST/PUT /deployment/{id}/deploy."""
        try:
            strategy_text = params.single(query, "strategy", operation)
            merge_text = params.single(query, "mergemode", operation)
        except ParamError as error:
            raise errors.bad_request(str(error)) from None
        self.ensure_ready()
        plain = Request(JobOperation.DEPLOY, deployment_id)
        deployed = jobs.refused_as_deployed(plain, self._queue.state(deployment_id))
        if deployed is not None:
            return deployed.result
        try:
            strategy = params.strategy(strategy_text)
            merge_mode = params.merge_mode(merge_text)
        except ParamError as error:
            raise errors.bad_request(str(error)) from None
        if strategy is None and descriptor is not None:
            strategy = descriptor.runtime_strategy
        return await self._submit(Request(JobOperation.DEPLOY, deployment_id, strategy, merge_mode))

    async def undeploy(self, deployment_id: str) -> DeploymentJobResult:
        """POST /deployment/{id}/undeploy."""
        self.ensure_ready()
        return await self._submit(Request(JobOperation.UNDEPLOY, deployment_id))

    async def _submit(self, request: Request) -> DeploymentJobResult:
        try:
            return await self._queue.submit(request)
        except QueueBusy as error:
            raise errors.unavailable(str(error)) from None


def _page_info(query: Params, operation: str) -> PageInfo:
    try:
        return params.page_info(query, operation)
    except ParamError as error:
        raise errors.bad_request(str(error)) from None
