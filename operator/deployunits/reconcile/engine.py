"""Pure decisions of a unit's sync with its process engine: binding, look-up, results, status.

A bound unit is stored as before (snapshots, definitions) and then pushed to its engine; the
engine is the authority on what it accepts and on ids and versions. The functions here turn
what the engine answered into the unit's next status; the I/O is in operations/.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from deployunits.models import conditions as cond
from deployunits.models.conditions import ConditionType
from deployunits.models.deploymentunit import (
    Definition,
    DeploymentStatus,
    DeploymentUnitSpec,
    DeploymentUnitStatus,
    EngineDefinition,
    EngineProblem,
    EngineSync,
    Job,
)
from deployunits.reconcile.deploymentunit import (
    ContentProblem,
    UnitReason,
    failed_status,
    waiting_status,
)


class SyncReason(StrEnum):
    """Reasons of the EngineSynced condition and of the engine's part in Ready and Stalled."""

    SYNCED = "Synced"
    UNDEPLOYED = "UndeployedFromEngine"
    ENGINE_NOT_FOUND = "EngineNotFound"
    DEFAULT_ENGINE_AMBIGUOUS = "DefaultEngineAmbiguous"
    ENGINE_UNAVAILABLE = "EngineUnavailable"
    ENGINE_UNAUTHORIZED = "EngineUnauthorized"
    ENGINE_REFUSED = "EngineRefused"
    INSTANCES_RUNNING = "InstancesRunning"


#: How far the engine's clock may be behind the operator's when a push is looked up.
CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class EngineCandidate:
    """A ProcessEngine of the unit's namespace, as far as binding is concerned."""

    name: str
    default: bool


@dataclass(frozen=True)
class Binding:
    """The engine a unit is pushed to (None: stored only), or why it cannot be told yet."""

    engine: str | None
    problem: ContentProblem | None = None


def bind(
    engine_ref: str | None, engines: Sequence[EngineCandidate], recorded: str | None = None
) -> Binding:
    """The unit's engine: the one it names, else the one it is already deployed to, else its
    namespace's default engine, else none.

    A named engine that does not exist yet, or two defaults, are temporary: the unit waits for
    the namespace to be set right rather than being deployed to a guess.
    """
    names = {engine.name for engine in engines}
    if engine_ref:
        if engine_ref in names:
            return Binding(engine_ref)
        return Binding(
            engine_ref,
            ContentProblem(
                f"ProcessEngine '{engine_ref}' does not exist in this namespace; the unit waits "
                "for it",
                True,
                SyncReason.ENGINE_NOT_FOUND,
            ),
        )
    if recorded is not None:
        # A unit already in an engine stays there when the default moves elsewhere.
        return Binding(recorded)
    defaults = sorted(engine.name for engine in engines if engine.default)
    if len(defaults) > 1:
        return Binding(
            None,
            ContentProblem(
                f"the namespace has {len(defaults)} default ProcessEngines "
                f"({', '.join(defaults)}); annotate only one, or name one in spec.engineRef",
                True,
                SyncReason.DEFAULT_ENGINE_AMBIGUOUS,
            ),
        )
    return Binding(defaults[0] if defaults else None)


def is_synced(status: DeploymentUnitStatus | None, engine: str, job: Job) -> bool:
    """Whether this job's deployment is recorded as being in this engine."""
    sync = status.engine if status is not None else None
    return (
        sync is not None
        and sync.name == engine
        and sync.job == job.identifier
        and sync.deployment_id is not None
    )


def needs_lookup(
    *, created: datetime, generation: int, active_since: datetime, attempted_here: bool
) -> bool:
    """Whether an earlier push of this job may have reached the engine unrecorded.

    An engine's create is not idempotent. A push this process already tried (a timeout may
    hide a success), a unit older than this process's first pass (an earlier process may have
    pushed and died before writing the status), or a later job of a unit (its start is not
    recorded) is looked up before pushing again; a unit first seen after this process became
    active costs no look-up.
    """
    return attempted_here or generation > 1 or created < active_since


@dataclass(frozen=True)
class EngineDeploymentSeen:
    """A deployment found in the engine while looking for an unrecorded push."""

    id: str
    name: str | None
    source: str | None
    tenant_id: str | None
    deployment_time: datetime


def pushed_name(spec: DeploymentUnitSpec) -> str:
    """The deployment's name in the engine: the unit's, else its deployment id (the engine
    lists deployments by name, which the look-up of an unrecorded push relies on)."""
    return spec.name or spec.deployment_id


def worth_reading(
    seen: EngineDeploymentSeen,
    name: str,
    source: str | None,
    tenant_id: str | None,
    since: datetime,
) -> bool:
    """Whether a deployment may be this unit's push: same name, source and tenant as pushed,
    and not older than the job (its resources are then compared byte for byte)."""
    return (
        (seen.name or None) == (name or None)
        and (seen.source or None) == (source or None)
        and (seen.tenant_id or None) == (tenant_id or None)
        and seen.deployment_time >= since - CLOCK_SKEW
    )


def recognize(
    candidates: Sequence[tuple[EngineDeploymentSeen, Mapping[str, str]]],
    pushed: Mapping[str, str],
) -> EngineDeploymentSeen | None:
    """The newest candidate whose resources (name → sha256) are exactly what the unit pushes."""
    matching = [seen for seen, resources in candidates if dict(resources) == dict(pushed)]
    return max(matching, key=lambda seen: seen.deployment_time, default=None)


def engine_definitions(
    own: Sequence[Definition], engine: Sequence[EngineDefinition]
) -> list[Definition]:
    """The unit's definitions with the engine's ids and versions.

    The engine's answer decides which definitions the deployment holds (its duplicate
    filtering may have left some out); what the operator parsed adds names and attributes.
    """
    by_key = {(d.kind, d.key): d for d in own}
    merged = []
    for deployed in engine:
        parsed = by_key.get((deployed.kind, deployed.key))
        if parsed is not None:
            merged.append(
                parsed.model_copy(update={"id": deployed.id, "version": deployed.version})
            )
        else:
            merged.append(
                Definition(
                    kind=deployed.kind,
                    id=deployed.id,
                    key=deployed.key,
                    version=deployed.version,
                    resource=deployed.resource,
                )
            )
    return merged


def _put(
    status: DeploymentUnitStatus,
    type_: ConditionType,
    value: cond.ConditionStatus,
    reason: str,
    message: str,
    generation: int,
    at: datetime,
) -> DeploymentUnitStatus:
    conditions = cond.set_condition(
        status.conditions, type_, value, reason, message, generation=generation, at=at
    )
    return status.model_copy(update={"conditions": conditions})


def synced_status(
    deployed: DeploymentUnitStatus, sync: EngineSync, generation: int, now: datetime
) -> DeploymentUnitStatus:
    """A deployed status (as for an unbound unit) made the engine's: its ids and versions."""
    definitions = engine_definitions(deployed.definitions, sync.definitions)
    message = (
        f"Deployed to ProcessEngine '{sync.name}' as deployment {sync.deployment_id} "
        f"({len(definitions)} definition(s))."
    )
    updated = deployed.model_copy(
        update={
            "definitions": definitions,
            "deployment_time": sync.deployment_time or deployed.deployment_time,
            "engine": sync.model_copy(update={"problems": []}),
        }
    )
    return _put(
        updated, ConditionType.ENGINE_SYNCED, "True", SyncReason.SYNCED, message, generation, now
    )


def describe_problems(problems: Sequence[EngineProblem]) -> str:
    """The engine's parse errors in one line each: where, what, and which elements."""
    lines = []
    for problem in problems:
        where = problem.resource or "the deployment"
        if problem.line is not None:
            where += f" line {problem.line}"
            if problem.column is not None:
                where += f", column {problem.column}"
        elements = list(problem.element_ids) or (
            [problem.main_element_id] if problem.main_element_id else []
        )
        suffix = f" (elements: {', '.join(elements)})" if elements else ""
        lines.append(f"{where}: {problem.message}{suffix}")
    return "\n".join(lines)


def refused_status(
    current: DeploymentUnitStatus | None,
    job: Job,
    spec: DeploymentUnitSpec,
    engine: str,
    message: str,
    problems: Sequence[EngineProblem],
    generation: int,
    now: datetime,
) -> DeploymentUnitStatus:
    """The engine refused the deployment: DEPLOY_FAILED and Stalled with its own message and
    the line, column and elements of each problem; retried only when the spec changes."""
    details = describe_problems(problems)
    text = f"ProcessEngine '{engine}' refused the deployment: {message}" + (
        f"\n{details}" if details else ""
    )
    failed = failed_status(
        current, job, ContentProblem(text, False, SyncReason.ENGINE_REFUSED), spec, generation, now
    )
    failed = failed.model_copy(
        update={
            "engine": EngineSync(name=engine, job=job.identifier, problems=list(problems)[:100])
        }
    )
    return _put(
        failed,
        ConditionType.ENGINE_SYNCED,
        "False",
        SyncReason.ENGINE_REFUSED,
        text,
        generation,
        now,
    )


def unreachable_status(
    current: DeploymentUnitStatus | None,
    job: Job,
    engine: str,
    problem: ContentProblem,
    generation: int,
    now: datetime,
) -> DeploymentUnitStatus:
    """The engine cannot be reached (down, timing out, credentials refused, not yet there):
    the job keeps DEPLOYING and is retried; what the engine holds from before is kept."""
    waiting = waiting_status(current, job, problem, generation, now)
    previous = current.engine if current is not None else None
    kept = previous if previous is not None and previous.name == engine else None
    waiting = waiting.model_copy(update={"engine": kept or EngineSync(name=engine)})
    return _put(
        waiting,
        ConditionType.ENGINE_SYNCED,
        "False",
        problem.reason,
        problem.message,
        generation,
        now,
    )


def withdrawn_status(
    undeployed: DeploymentUnitStatus, generation: int, now: datetime
) -> DeploymentUnitStatus:
    """An undeployed status (as for an unbound unit) once the engine's deployment is gone."""
    sync = undeployed.engine
    if sync is None:
        return undeployed
    message = f"Deleted from ProcessEngine '{sync.name}'."
    updated = undeployed.model_copy(
        update={
            "engine": sync.model_copy(
                update={"deployment_id": None, "deployment_time": None, "definitions": []}
            )
        }
    )
    return _put(
        updated,
        ConditionType.ENGINE_SYNCED,
        "True",
        SyncReason.UNDEPLOYED,
        message,
        generation,
        now,
    )


def undeploy_refused_status(
    current: DeploymentUnitStatus,
    job: Job,
    engine: str,
    message: str,
    generation: int,
    now: datetime,
) -> DeploymentUnitStatus:
    """The engine keeps the deployment (instances are running and the policy keeps them):
    UNDEPLOY_FAILED and Stalled, with the engine's message and how to proceed."""
    text = (
        f"ProcessEngine '{engine}' refused to delete deployment "
        f"{current.engine.deployment_id if current.engine else ''}: {message}. Set "
        f"spec.deletePolicy: Cascade on the ProcessEngine to delete the running instances "
        "with it, or end them; the operator tries again at the engine's next resync."
    )
    changes: list[tuple[ConditionType, cond.ConditionStatus, str, str]] = [
        (ConditionType.READY, "False", SyncReason.INSTANCES_RUNNING, text),
        (ConditionType.RECONCILING, "False", UnitReason.JOB_FAILED, ""),
        (ConditionType.STALLED, "True", SyncReason.INSTANCES_RUNNING, text),
        (ConditionType.ENGINE_SYNCED, "False", SyncReason.INSTANCES_RUNNING, text),
    ]
    conditions = current.conditions
    for type_, value, reason, msg in changes:
        conditions = cond.set_condition(
            conditions, type_, value, reason, msg, generation=generation, at=now
        )
    finished = job.model_copy(
        update={"finished": now, "success": False, "explanation": text[:32768]}
    )
    return current.model_copy(
        update={
            "observed_generation": generation,
            "status": DeploymentStatus.UNDEPLOY_FAILED,
            "job": finished,
            "conditions": conditions,
        }
    )


def vanished(status: DeploymentUnitStatus | None, found: bool) -> bool:
    """Drift: a deployed, synced unit whose engine deployment is no longer there."""
    return (
        status is not None
        and status.status is DeploymentStatus.DEPLOYED
        and status.engine is not None
        and status.engine.deployment_id is not None
        and not found
    )
