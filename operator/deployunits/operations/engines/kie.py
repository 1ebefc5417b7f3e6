"""A bound unit's container in its KIE Server: created once, read back, and disposed of.

The container id is derived from the deployment id (reconcile/kie.py), so the server holds a
unit at most once whatever happened before: a push first looks for the container and takes a
started one of the same kjar (an earlier push whose answer was lost, or a server that kept it)
instead of creating it again.
"""

import logging
from datetime import UTC, datetime

from deployunits.engines import EngineRefused, KieServerClient, MissingKjar
from deployunits.engines.kie_wire import Container, ContainerStatus, ReleaseId
from deployunits.models.deploymentunit import (
    DeploymentUnitSpec,
    EngineDefinition,
    EngineSync,
    Job,
    ProcessVariable,
)
from deployunits.operations.engines.context import EnginesContext
from deployunits.reconcile import engine as decide
from deployunits.reconcile import kie as plan_kie

logger = logging.getLogger(__name__)

#: Active instances asked for before a KeepInstances undeploy (the message names at most 20).
_INSTANCES_ASKED = 101


async def push_container(
    ctx: EnginesContext, client: KieServerClient, engine: str, spec: DeploymentUnitSpec, job: Job
) -> EngineSync:
    """The unit's container, started (created unless the server already has it): its record.

    Raises EngineRefused for a unit that is not a kjar, a kjar the server cannot resolve (the
    message says which repository it must reach) or one it cannot build (its own words).
    """
    plan = plan_kie.container_plan(spec)
    if isinstance(plan, str):
        raise EngineRefused(plan)
    release = ReleaseId(group_id=plan.group_id, artifact_id=plan.artifact_id, version=plan.version)
    ctx.count("get")
    found = await client.container(plan.container_id)
    if found is not None and not _takes(found, release):
        # A container left FAILED by an earlier attempt, or of another version of the kjar:
        # this job's container replaces it.
        logger.info(
            "Disposing of container %s (%s) to create it again.", found.container_id, found.status
        )
        ctx.count("delete")
        await client.dispose_container(plan.container_id)
        found = None
    if found is None:
        ctx.count("create")
        try:
            found = await client.create_container(plan.container_id, release, plan.settings)
        except EngineRefused as error:
            await _dispose_failed(ctx, client, plan.container_id)
            if isinstance(error, MissingKjar):
                maven = spec.resources.maven
                raise EngineRefused(
                    plan_kie.missing_kjar_message(
                        _said(error), plan.release, maven.repository if maven else None
                    ),
                    status=error.status,
                ) from None
            raise
    return await container_sync(ctx, client, engine, job, found, plan.artifact_id, plan.version)


def _takes(container: Container, release: ReleaseId) -> bool:
    """Whether an existing container is the one this push would create, started."""
    return container.status is ContainerStatus.STARTED and container.release_id == release


def _said(error: EngineRefused) -> str:
    # The gateway's message starts with the call; the server's own words follow its status.
    return error.message.split("): ", 1)[-1] if "): " in error.message else error.message


async def _dispose_failed(ctx: EnginesContext, client: KieServerClient, container_id: str) -> None:
    """A refused PUT leaves a FAILED container behind: take it away, so that the server keeps
    nothing of a unit whose job failed (best effort: the next push replaces it anyway)."""
    try:
        ctx.count("delete")
        await client.dispose_container(container_id)
    except Exception as error:  # the refusal is what the unit shows, not this
        logger.warning("Could not dispose of failed container %s: %s", container_id, error)


async def container_sync(
    ctx: EnginesContext,
    client: KieServerClient,
    engine: str,
    job: Job,
    container: Container,
    artifact_id: str,
    version: str,
) -> EngineSync:
    """The unit's record of its container: its id and the processes the server reports."""
    ctx.count("definitions")
    processes = await client.process_definitions(container.container_id)
    kjar = f"{artifact_id}-{version}.jar"
    definitions = [
        EngineDefinition(
            kind="process",
            id=process.id,
            key=process.id,
            resource=kjar,
            name=process.name,
            package_name=process.package,
            model_version=process.version,
            variables=[
                ProcessVariable(name=name, type=kind)
                for name, kind in (process.process_variables or {}).items()
            ],
        )
        for process in processes
    ]
    return EngineSync(
        name=engine,
        job=job.identifier,
        deployment_id=container.container_id,
        deployment_time=datetime.now(UTC),
        definitions=definitions,
    )


async def dispose(
    ctx: EnginesContext, client: KieServerClient, container_id: str, *, cascade: bool
) -> None:
    """Dispose of the unit's container; without cascade refuse (EngineRefused, with the count
    and ids) while it has active instances, which the server's DELETE would abort."""
    if not cascade:
        ctx.count("instances")
        active = await client.active_instances(container_id, _INSTANCES_ASKED)
        if active:
            more = len(active) >= _INSTANCES_ASKED
            raise EngineRefused(plan_kie.running_instances_message(container_id, active, more))
    ctx.count("delete")
    await client.dispose_container(container_id)


async def observe(client: KieServerClient) -> decide.EngineObservation:
    """The server's version and capabilities, and its started containers (those whose id is
    derived from a deployment id count as pushed by units). A container that is not started
    counts as missing: its unit is pushed again, which replaces it."""
    info = await client.info()
    ids = {
        container.container_id
        for container in await client.containers()
        if container.status is ContainerStatus.STARTED
    }
    return decide.EngineObservation(
        version=info.version,
        deployment_ids=frozenset(ids),
        pushed=frozenset(i for i in ids if plan_kie.deployment_id_of(i) is not None),
        product="KIE Server",
        capabilities=tuple(info.capabilities),
    )
