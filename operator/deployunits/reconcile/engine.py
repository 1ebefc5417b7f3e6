"""Pure decisions of a unit's sync with its process engine: binding, look-up, results, status.

A bound unit is stored as before (snapshots, definitions) and then pushed to its engine; the
engine is the authority on what it accepts and on ids and versions. The functions here turn
what the engine answered into the unit's next status; the I/O is in operations/.
"""

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from pydantic import ValidationError

from deployunits import constants
from deployunits.models import conditions as cond
from deployunits.models.conditions import ConditionType
from deployunits.models.deploymentunit import (
    Definition,
    DeploymentStatus,
    DeploymentUnit,
    DeploymentUnitSpec,
    DeploymentUnitStatus,
    EngineDefinition,
    EngineProblem,
    EngineRef,
    EngineSync,
    Job,
    ResourceSources,
    SnapshotRef,
)
from deployunits.models.processengine import ProcessEngineSpec, ProcessEngineStatus
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
    #: Being deleted: it keeps the units it holds until they go, and takes no new ones.
    deleting: bool = False


@dataclass(frozen=True)
class Binding:
    """The engine a unit is pushed to (None: stored only), or why it cannot be told yet."""

    engine: str | None
    problem: ContentProblem | None = None


def bind(
    engine_ref: str | None, engines: Sequence[EngineCandidate], recorded: str | None = None
) -> Binding:
    """The unit's engine: the one it is already deployed to (which it names, if it names
    one), else the one it names, else its namespace's default engine, else none.

    A named engine that does not exist yet (or is being deleted), or two defaults, are
    temporary: the unit waits for the namespace to be set right rather than being deployed to
    a guess.
    """
    names = {engine.name for engine in engines if not engine.deleting}
    if recorded is not None and (not engine_ref or engine_ref == recorded):
        # A unit already in an engine stays there when the default moves elsewhere, and while
        # its engine's object is being deleted (which waits for it).
        return Binding(recorded)
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
    defaults = sorted(engine.name for engine in engines if engine.default and not engine.deleting)
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
    active costs no look-up. The API server's times are whole seconds: a unit created in the
    second this process became active may be older than it, and is looked up.
    """
    return attempted_here or generation > 1 or created <= active_since


@dataclass(frozen=True)
class EngineDeploymentSeen:
    """A deployment found in the engine while looking for an unrecorded push."""

    id: str
    name: str | None
    source: str | None
    tenant_id: str | None
    deployment_time: datetime


#: What the source of every deployment a unit pushes carries: this tag and the unit's uid.
PUSH_MARKER = "deployunits:"
#: The longest deployment source the engine stores (Camunda's ACT_RE_DEPLOYMENT.SOURCE_).
MAX_ENGINE_SOURCE = 255
_MARKED = re.compile(r"(?:^|\()" + re.escape(PUSH_MARKER) + r"([0-9a-f-]{36})\)?$")


def pushed_source(spec: DeploymentUnitSpec, uid: str) -> str:
    """The deployment's source in the engine: the unit's own, marked with the unit's uid.

    The marker makes every deployment a unit pushed known as that unit's, the current one and
    those its earlier jobs left behind (never unmanaged, never adopted), and lists them all in
    one exact query (the engine filters sources by equality only; the unit's source and uid
    never change).
    """
    marker = f"{PUSH_MARKER}{uid}"
    if not spec.source:
        return marker
    room = MAX_ENGINE_SOURCE - len(marker) - 3
    return f"{spec.source[:room]} ({marker})"


def pushed_by(source: str | None) -> str | None:
    """The uid of the unit whose push a deployment of this source is (None: no unit's)."""
    found = _MARKED.search(source or "")
    return found.group(1) if found else None


def activation_time(annotations: Mapping[str, str]) -> datetime | str | None:
    """When the engine is to activate the unit's process definitions (they wait suspended
    until then): the unit's activation-time annotation, as a REST upload's
    `deployment-activation-time` sets it (a time without an offset is UTC). A value that is
    no ISO 8601 time comes back as the message that refuses the deployment."""
    raw = annotations.get(constants.ACTIVATION_TIME_ANNOTATION)
    if raw is None or not raw.strip():
        return None
    try:
        moment = datetime.fromisoformat(raw.strip())
    except ValueError:
        return (
            f"the annotation {constants.ACTIVATION_TIME_ANNOTATION} is no ISO 8601 time: "
            f"{raw[:100]!r} (for example 2030-01-01T00:00:00Z)"
        )
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


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
        # What a KIE Server reports of a process (name, package, version string, variables)
        # is the engine's word too; what it leaves out stays as parsed.
        reported = {
            field: value
            for field in ("name", "package_name", "model_version", "variables")
            if (value := getattr(deployed, field)) is not None
        }
        if parsed is not None:
            update: dict[str, object] = {"id": deployed.id, **reported}
            if deployed.version is not None:
                update["version"] = deployed.version
            merged.append(parsed.model_copy(update=update))
        else:
            merged.append(
                Definition(
                    kind=deployed.kind,
                    id=deployed.id,
                    key=deployed.key,
                    version=deployed.version or 1,
                    resource=deployed.resource,
                    **reported,
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
    deployment_id: str | None,
    message: str,
    generation: int,
    now: datetime,
) -> DeploymentUnitStatus:
    """The engine keeps a deployment of the unit (instances are running and the policy keeps
    them): UNDEPLOY_FAILED and Stalled, with the engine's message and how to proceed."""
    text = (
        f"ProcessEngine '{engine}' refused to delete deployment {deployment_id}: {message}. Set "
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


# -- the ProcessEngine and its units ---------------------------------------------------------


@dataclass(frozen=True)
class UnitEntry:
    """A unit as the engines' resync sees it (from the operator's watch-fed index)."""

    name: str
    engine_ref: str | None
    #: The engine its status records, and that engine's deployment id.
    engine: str | None
    deployment_id: str | None
    status: str | None
    deleting: bool
    #: An adopted unit's original engine deployment (its own even once an edit superseded it).
    adopted_from: str | None = None


def pushed_tenant(spec: DeploymentUnitSpec, engine: ProcessEngineSpec) -> str | None:
    """The tenant the deployment gets in the engine: the unit's, else the engine's default."""
    return spec.tenant_id or engine.tenant_id


@dataclass(frozen=True)
class EngineObservation:
    """What one look at the engine found."""

    version: str | None = None
    deployment_ids: frozenset[str] = frozenset()
    #: Of those, the deployments units pushed (their source carries the push marker).
    pushed: frozenset[str] = frozenset()
    problem: str | None = None
    temporary: bool = True
    #: What the engine is, for people (Ready's message).
    product: str = "Camunda 7 engine"
    #: What the engine says it can do (a KIE Server's capabilities: KieServer, BRM, BPM, ...).
    capabilities: tuple[str, ...] = ()


def engine_status(
    current: ProcessEngineStatus | None,
    seen: EngineObservation,
    url: str,
    synced: int,
    unmanaged: int | None,
    generation: int,
    at: datetime,
    holding: Sequence[str] | None = None,
) -> ProcessEngineStatus:
    """The ProcessEngine's status from one look at the engine (pure); `holding`: the units
    its deletion waits for (None: it is not being deleted)."""
    base = current or ProcessEngineStatus()
    conditions = base.conditions
    if seen.version is not None:
        changes: list[tuple[ConditionType, cond.ConditionStatus, str, str]] = [
            (
                ConditionType.READY,
                "True",
                "EngineAnswers",
                f"{seen.product} {seen.version} answers at {url}"
                + (
                    f" (capabilities: {', '.join(seen.capabilities)})."
                    if seen.capabilities
                    else "."
                ),
            ),
            (ConditionType.RECONCILING, "False", "EngineAnswers", ""),
            (ConditionType.STALLED, "False", "EngineAnswers", ""),
        ]
    else:
        message = seen.problem or "the engine does not answer"
        changes = [
            (ConditionType.READY, "False", "EngineUnreachable", message),
            (
                ConditionType.RECONCILING,
                "True" if seen.temporary else "False",
                "EngineUnreachable",
                message if seen.temporary else "",
            ),
            (
                ConditionType.STALLED,
                "False" if seen.temporary else "True",
                "EngineRefusesTheOperator",
                "" if seen.temporary else message,
            ),
        ]
    if holding is not None:
        changes = [c for c in changes if c[0] is not ConditionType.RECONCILING]
        changes.append(
            (
                ConditionType.RECONCILING,
                "True",
                DELETION_WAITS,
                deletion_message(holding),
            )
        )
    for type_, value, reason, text in changes:
        conditions = cond.set_condition(
            conditions, type_, value, reason, text, generation=generation, at=at
        )
    return base.model_copy(
        update={
            "observed_generation": generation,
            "engine_version": seen.version or base.engine_version,
            "deployments": synced,
            "unmanaged_deployments": unmanaged
            if unmanaged is not None
            else base.unmanaged_deployments,
            "conditions": conditions,
        }
    )


#: The ProcessEngine's Reconciling reason while its deletion waits for units.
DELETION_WAITS = "DeletionWaitsForUnits"


def holding_units(engine: str, units: Iterable[UnitEntry]) -> list[str]:
    """The units a ProcessEngine's deletion waits for: those whose status records it and that
    may have deployments in it (deployed, failed to undeploy, or being deleted)."""
    return sorted(
        unit.name
        for unit in units
        if unit.engine == engine
        and (
            unit.deployment_id is not None
            or unit.deleting
            or unit.status == DeploymentStatus.UNDEPLOY_FAILED.value
        )
    )


def deletion_message(holding: Sequence[str]) -> str:
    """What a ProcessEngine's deletion waits for, and how to let it go."""
    shown = ", ".join(holding[:10]) + (
        f" and {len(holding) - 10} more" if len(holding) > 10 else ""
    )
    return (
        f"Deletion waits for {len(holding)} unit(s) with deployments in this engine ({shown}): "
        "undeploy or delete them, and their deployments leave the engine with them; new units "
        "are not pushed to it meanwhile. To drop the ProcessEngine and leave its deployments "
        "in the engine, remove its finalizer."
    )


def bound_units(
    engine: str, default: bool, units: Iterable[UnitEntry]
) -> tuple[list[UnitEntry], set[str]]:
    """The units this engine serves (by reference, record, or as the default), and the engine
    deployment ids they own."""
    served, owned = [], set()
    for unit in units:
        if unit.engine == engine and unit.deployment_id:
            owned.add(unit.deployment_id)
        if (
            unit.engine_ref == engine
            or unit.engine == engine
            or (default and unit.engine_ref is None and unit.engine is None)
        ):
            served.append(unit)
    return served, owned


class ResyncAction(StrEnum):
    """What an engine's resync does with one of its units."""

    NOTHING = "Nothing"
    #: Deployed but not in the engine: never pushed (a default engine created later), or its
    #: deployment vanished (drift).
    PUSH = "Push"
    #: A job waits for the engine (it was unreachable): the unit's pass runs again.
    RETRY = "Retry"
    #: An undeploy or deletion the engine refused: tried again (the policy may have changed).
    RETRY_UNDEPLOY = "RetryUndeploy"


def resync_action(unit: UnitEntry, in_engine: frozenset[str]) -> ResyncAction:
    """What the engine's resync does with the unit, given the deployment ids the engine has."""
    if unit.deleting or unit.status == DeploymentStatus.UNDEPLOY_FAILED.value:
        return ResyncAction.RETRY_UNDEPLOY
    if unit.status == DeploymentStatus.DEPLOYED.value and (
        unit.deployment_id is None or unit.deployment_id not in in_engine
    ):
        return ResyncAction.PUSH
    if unit.status == DeploymentStatus.DEPLOYING.value:
        return ResyncAction.RETRY
    return ResyncAction.NOTHING


def adopted_unit_name(deployment_id: str) -> str | None:
    """The name of the unit an engine deployment is imported as (None: the id cannot name one)."""
    name = f"adopted-{deployment_id.lower()}"
    if len(name) > 253 or not _DNS_SUBDOMAIN.fullmatch(name):
        return None
    return name


_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def adopted_unit(
    engine: str, unit_name: str, found: EngineDeploymentSeen, resources: Sequence[tuple[str, str]]
) -> DeploymentUnit | None:
    """The unit an engine deployment no unit owns is imported as: bound to the engine, its
    content as snapshots (name, sha256), labelled as adopted (None: it holds no resource, or
    its name, source or tenant are not what a unit may carry)."""
    if not resources:
        return None
    try:
        return _adopted(engine, unit_name, found, resources)
    except ValidationError:
        return None


def _adopted(
    engine: str, unit_name: str, found: EngineDeploymentSeen, resources: Sequence[tuple[str, str]]
) -> DeploymentUnit:
    return DeploymentUnit(
        metadata={
            "name": unit_name,
            "labels": {constants.ADOPTED_LABEL: engine},
            "annotations": {constants.ADOPTED_FROM_ANNOTATION: found.id},
        },
        spec=DeploymentUnitSpec(
            deployment_id=found.id,
            name=found.name or None,
            source=found.source or None,
            tenant_id=found.tenant_id or None,
            engine_ref=EngineRef(name=engine),
            resources=ResourceSources(
                snapshots=[SnapshotRef(name=name, sha256=sha) for name, sha in resources]
            ),
        ),
    )
