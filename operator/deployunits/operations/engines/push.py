"""A bound unit's push to its engine, once per job, and the look-up of an unrecorded push."""

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from deployunits import constants
from deployunits.content.digest import sha256_hex
from deployunits.engines import (
    Camunda7Client,
    EngineError,
    EngineRefused,
    EngineSettingsError,
    EngineUnauthorized,
    EngineUnavailable,
    NewDeployment,
    NewResource,
    ResourceProblem,
)
from deployunits.engines.wire import DeploymentWithDefinitions
from deployunits.k8s.errors import ApiError
from deployunits.models.conditions import now
from deployunits.models.deploymentunit import (
    DeploymentUnitSpec,
    DeploymentUnitStatus,
    EngineDefinition,
    EngineProblem,
    EngineSync,
    Job,
)
from deployunits.models.processengine import ProcessEngineSpec
from deployunits.operations.engines import kie
from deployunits.operations.engines.binding import binding
from deployunits.operations.engines.context import EnginesContext
from deployunits.reconcile import engine as decide
from deployunits.reconcile.deploymentunit import ContentProblem, NamedContent

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PushOutcome:
    """What the engine made of a push: its record, its refusal, or why to try again."""

    engine: str
    sync: EngineSync | None = None
    refused: EngineRefused | None = None
    waiting: ContentProblem | None = None

    def status(
        self,
        deployed: DeploymentUnitStatus,
        before: DeploymentUnitStatus | None,
        job: Job,
        spec: DeploymentUnitSpec,
        generation: int,
    ) -> DeploymentUnitStatus:
        """The one status the pass writes, from the status an unbound unit would get."""
        at = now()
        if self.sync is not None:
            return decide.synced_status(deployed, self.sync, generation, at)
        if self.refused is not None:
            problems = [_problem(p) for p in self.refused.problems]
            return decide.refused_status(
                before, job, spec, self.engine, self.refused.message, problems, generation, at
            )
        assert self.waiting is not None
        return decide.unreachable_status(before, job, self.engine, self.waiting, generation, at)


def _problem(problem: ResourceProblem) -> EngineProblem:
    return EngineProblem(
        resource=problem.resource or None,
        message=problem.message[:4096],
        line=problem.line,
        column=problem.column,
        main_element_id=problem.main_element_id,
        element_ids=[e[:1024] for e in problem.element_ids[:64]],
    )


def _waiting(error: EngineError | EngineSettingsError | ApiError, engine: str) -> ContentProblem:
    reason = (
        decide.SyncReason.ENGINE_UNAUTHORIZED
        if isinstance(error, EngineUnauthorized)
        else decide.SyncReason.ENGINE_UNAVAILABLE
    )
    return ContentProblem(
        f"ProcessEngine '{engine}' cannot be reached, the push is retried: {error}", True, reason
    )


def engine_sync(
    engine: str, job: Job, created: DeploymentWithDefinitions | Any, definitions: Any
) -> EngineSync:
    """The unit's record of a deployment in the engine, from its definitions (by kind)."""
    found: list[EngineDefinition] = []
    for kind, items in definitions:
        for item in items:
            found.append(
                EngineDefinition(
                    kind=kind,
                    id=item.id,
                    key=item.key,
                    version=item.version,
                    resource=item.resource or "",
                )
            )
    return EngineSync(
        name=engine,
        job=job.identifier,
        deployment_id=created.id,
        deployment_time=created.deployment_time,
        definitions=found,
    )


def created_definitions(created: DeploymentWithDefinitions) -> list[tuple[str, Iterable[Any]]]:
    return [
        ("process", (created.deployed_process_definitions or {}).values()),
        ("decision", (created.deployed_decision_definitions or {}).values()),
        ("case", (created.deployed_case_definitions or {}).values()),
        (
            "decision-requirements",
            (created.deployed_decision_requirements_definitions or {}).values(),
        ),
    ]


async def push(
    ctx: EnginesContext | None,
    body: Mapping[str, Any],
    spec: DeploymentUnitSpec,
    status: DeploymentUnitStatus | None,
    job: Job,
    content: Sequence[NamedContent],
) -> PushOutcome | None:
    """Send a bound unit's content to its engine once per job; None for an unbound unit."""
    meta = body["metadata"]
    namespace = meta["namespace"]
    bound = binding(ctx, namespace, spec, status)
    if bound.problem is not None:
        return PushOutcome(bound.engine or "", waiting=bound.problem)
    if ctx is None or bound.engine is None:
        return None
    name = bound.engine
    if decide.is_synced(status, name, job):
        # Recorded already (a rewrite of the same job's status): never pushed twice.
        assert status is not None and status.engine is not None
        return PushOutcome(name, sync=status.engine)
    key = (namespace, meta["name"], job.identifier)
    adopted = (meta.get("annotations") or {}).get(constants.ADOPTED_FROM_ANNOTATION)
    try:
        engine = await ctx.client(namespace, name)
        if engine.kie is not None:
            # The container id is the unit's: a push is looked up by it, never repeated.
            ctx.attempted.add(key)
            sync = await kie.push_container(ctx, engine.kie, name, spec, job)
            ctx.attempted.discard(key)
            return PushOutcome(name, sync=sync)
        if adopted and (status is None or status.engine is None or not status.engine.job):
            # Imported from the engine: its deployment is the unit's, never pushed again.
            ctx.count("get")
            existing = await engine.camunda.deployment(adopted)
            if existing is not None:
                seen = decide.EngineDeploymentSeen(
                    existing.id,
                    existing.name,
                    existing.source,
                    existing.tenant_id,
                    existing.deployment_time,
                )
                return PushOutcome(name, sync=await sync_of(ctx, engine.camunda, name, job, seen))
        deployment = new_deployment(meta, spec, engine.spec, content)
        if isinstance(deployment, str):
            return PushOutcome(name, refused=EngineRefused(deployment))
        created = _created(meta)
        lookup = decide.needs_lookup(
            created=created or ctx.active_since,
            generation=int(meta.get("generation") or 1),
            active_since=ctx.active_since,
            attempted_here=key in ctx.attempted,
        )
        if lookup:
            since = job.started or created or ctx.active_since
            found = await find_push(ctx, namespace, engine.camunda, deployment, since)
            if found is not None:
                logger.info("Found the push of %s/%s in engine %s.", namespace, meta["name"], name)
                return PushOutcome(name, sync=await sync_of(ctx, engine.camunda, name, job, found))
        ctx.attempted.add(key)
        ctx.count("create")
        answer = await engine.camunda.create_deployment(deployment)
    except EngineUnauthorized as error:
        ctx.forget_client((namespace, name))
        return PushOutcome(name, waiting=_waiting(error, name))
    except EngineRefused as error:
        return PushOutcome(name, refused=error)
    except (EngineUnavailable, EngineSettingsError, ApiError) as error:
        if isinstance(error, EngineSettingsError):
            ctx.forget_client((namespace, name))
        return PushOutcome(name, waiting=_waiting(error, name))
    ctx.attempted.discard(key)
    ctx.claimed.add(answer.id)
    return PushOutcome(name, sync=engine_sync(name, job, answer, created_definitions(answer)))


def new_deployment(
    meta: Mapping[str, Any],
    spec: DeploymentUnitSpec,
    engine: ProcessEngineSpec,
    content: Sequence[NamedContent],
) -> NewDeployment | str:
    """What a push of the unit sends: its name, its source with the push marker, its tenant,
    its activation time and every resource; or why the unit cannot be pushed."""
    activation = decide.activation_time(meta.get("annotations") or {})
    if isinstance(activation, str):
        return activation
    return NewDeployment(
        name=decide.pushed_name(spec),
        source=decide.pushed_source(spec, meta["uid"]),
        tenant_id=decide.pushed_tenant(spec, engine),
        activation_time=activation,
        resources=tuple(NewResource(name=c.name, content=c.content) for c in content),
    )


def _created(meta: Mapping[str, Any]) -> datetime | None:
    raw = meta.get("creationTimestamp")
    return datetime.fromisoformat(str(raw).replace("Z", "+00:00")) if raw else None


async def find_push(
    ctx: EnginesContext,
    namespace: str,
    client: Camunda7Client,
    deployment: NewDeployment,
    since: datetime,
) -> decide.EngineDeploymentSeen | None:
    """An earlier push of exactly this deployment that no unit's status records."""
    owned = ctx.claimed | {u.deployment_id for u in ctx.units_of(namespace) if u.deployment_id}
    ctx.count("lookup")
    listed = await client.deployments(
        name=deployment.name,
        source=deployment.source,
        tenant_id=deployment.tenant_id,
        without_tenant=deployment.tenant_id is None,
    )
    pushed = {r.name: sha256_hex(r.content) for r in deployment.resources}
    candidates = []
    for item in listed:
        if item.id in owned:
            continue
        seen = decide.EngineDeploymentSeen(
            id=item.id,
            name=item.name,
            source=item.source,
            tenant_id=item.tenant_id,
            deployment_time=item.deployment_time,
        )
        if not decide.worth_reading(
            seen, deployment.name, deployment.source, deployment.tenant_id, since
        ):
            continue
        ctx.count("lookup-resources")
        resources = await client.resources(item.id)
        if {r.name for r in resources} != set(pushed):
            continue
        ctx.count("lookup-data", len(resources))
        data = {r.name: sha256_hex(await client.resource_data(item.id, r.id)) for r in resources}
        candidates.append((seen, data))
    return decide.recognize(candidates, pushed)


async def sync_of(
    ctx: EnginesContext,
    client: Camunda7Client,
    engine: str,
    job: Job,
    found: decide.EngineDeploymentSeen,
) -> EngineSync:
    ctx.count("definitions", 4)
    ctx.claimed.add(found.id)
    definitions = await client.definitions(found.id)
    return engine_sync(
        engine,
        job,
        found,
        [
            ("process", definitions.processes),
            ("decision", definitions.decisions),
            ("case", definitions.cases),
            ("decision-requirements", definitions.decision_requirements),
        ],
    )
