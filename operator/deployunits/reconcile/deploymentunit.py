"""Pure reconcile of a DeploymentUnit: spec, current status and observations → the next status."""

import dataclasses
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum, StrEnum
from typing import Any

from deployunits import constants
from deployunits.content.archive import ArchiveError, validate_resource_name
from deployunits.content.definitions import ParsedDefinition, definitions_of, model_kind_of
from deployunits.content.digest import sha256_hex
from deployunits.content.policy import find_custom_code
from deployunits.content.validation import Rules, validate_model
from deployunits.content.xmlsafe import ContentError, parse_xml_document
from deployunits.models import conditions as cond
from deployunits.models.conditions import ConditionType
from deployunits.models.deploymentunit import (
    MAX_PROCESS_VARIABLES,
    Definition,
    DeploymentStatus,
    DeploymentUnitSpec,
    DeploymentUnitStatus,
    DesiredState,
    Job,
    JobOperation,
    ProcessVariable,
    StoredResource,
)


class UnitReason(StrEnum):
    """Reasons of the conditions the operator writes (CamelCase, as metav1 requires)."""

    DEPLOYED = "Deployed"
    DUPLICATE = "Duplicate"
    UNDEPLOYED = "Undeployed"
    DEPLOYING = "Deploying"
    WAITING_FOR_CONTENT = "WaitingForContent"
    SOURCE_UNAVAILABLE = "SourceUnavailable"
    INVALID_CONTENT = "InvalidContent"
    CUSTOM_CODE_REFUSED = "CustomCodeRefused"
    LIMIT_EXCEEDED = "LimitExceeded"
    ARTIFACT_NOT_FOUND = "ArtifactNotFound"
    JOB_FINISHED = "JobFinished"
    JOB_FAILED = "JobFailed"
    NO_FAILURE = "NoFailure"
    SOURCE_UNCHANGED = "SourceUnchanged"
    SOURCE_CHANGED = "SourceChanged"


class Action(Enum):
    """What a reconcile pass has to do."""

    NOTHING = "nothing"
    OBSERVE = "observe"
    DEPLOY = "deploy"
    UNDEPLOY = "undeploy"


@dataclass(frozen=True)
class NamedContent:
    """One resource as fetched from its source."""

    name: str
    content: bytes


@dataclass(frozen=True)
class ContentProblem:
    """Why the content cannot be deployed; temporary problems are retried with backoff."""

    message: str
    temporary: bool
    reason: str = UnitReason.INVALID_CONTENT


@dataclass(frozen=True)
class Limits:
    """Bounds on what a unit may hold."""

    max_resource_bytes: int = constants.MAX_RESOURCE_BYTES
    max_unit_bytes: int = constants.MAX_UNIT_BYTES
    max_resources: int = 10000


@dataclass(frozen=True)
class PreviousDeployment:
    """An earlier deployment with the same name, source and tenant (for duplicate filtering)."""

    deployment_id: str
    deployment_time: datetime
    resources: Mapping[str, str]


def counts_as_previous(state: str | None, duplicate_of: str | None) -> bool:
    """Whether later deployments of the unit's name are compared with it: it is deployed and
    not itself a filtered duplicate."""
    return state == DeploymentStatus.DEPLOYED and not duplicate_of


def previous_deployment(
    deployment_id: str, deployed_at: datetime | None, resources: Iterable[tuple[str, str]]
) -> PreviousDeployment:
    """A unit as duplicate filtering compares with it, its resources given as (name, sha256)."""
    return PreviousDeployment(
        deployment_id, deployed_at or datetime.min.replace(tzinfo=UTC), dict(resources)
    )


VersionKey = tuple[str, str]  # (definition kind, key); tenant and namespace are implied


def source_digest(spec: DeploymentUnitSpec) -> str:
    """A digest of the content sources as written in the spec, to notice edits of them."""
    canonical = json.dumps(spec.resources.to_wire(), sort_keys=True, separators=(",", ":"))
    return sha256_hex(canonical.encode())


def decide_action(
    spec: DeploymentUnitSpec, status: DeploymentUnitStatus | None, generation: int
) -> Action:
    """What this pass must do, from the desired state and what the status records."""
    observed = status is not None and status.observed_generation == generation
    current = status.status if status is not None else None
    if spec.state is DesiredState.UNDEPLOYED:
        if current is DeploymentStatus.UNDEPLOYED:
            return Action.NOTHING if observed else Action.OBSERVE
        return Action.UNDEPLOY
    same_sources = status is not None and status.source_digest == source_digest(spec)
    if current is DeploymentStatus.DEPLOYED and same_sources:
        return Action.NOTHING if observed else Action.OBSERVE
    if current is DeploymentStatus.DEPLOY_FAILED and same_sources and observed:
        # A permanent failure waits for a change of the spec, not for retries.
        return Action.NOTHING
    return Action.DEPLOY


def next_job(
    operation: JobOperation, status: DeploymentUnitStatus | None, generation: int, now: datetime
) -> Job:
    """The job this pass works on: the unfinished one of the same kind, or a new one."""
    previous = status.job if status is not None else None
    if previous is not None and previous.operation is operation and previous.finished is None:
        return previous
    return Job(identifier=str(generation), operation=operation, submitted=now, started=now)


def resource_id(unit_uid: str, name: str) -> str:
    """A resource id that stays the same for the same unit and resource name."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"deployunits:{unit_uid}/{name}"))


def describe_resources(
    unit_uid: str,
    content: Sequence[NamedContent],
    stored_in: Mapping[str, tuple[str, str]] | None = None,
) -> list[StoredResource]:
    """The status entries of the resources (in name order); `stored_in` maps a sha256 to its
    snapshot's (ConfigMap name, key), and content not stored yet has no location."""
    described = []
    for item in sorted(content, key=lambda item: item.name):
        digest = sha256_hex(item.content)
        config_map, key = (stored_in or {}).get(digest) or (None, None)
        described.append(
            StoredResource(
                id=resource_id(unit_uid, item.name),
                name=item.name,
                sha256=digest,
                size=len(item.content),
                config_map=config_map,
                key=key,
            )
        )
    return described


def size_problem(content: Sequence[NamedContent], limits: Limits) -> str | None:
    """Why the content is larger than the limits allow (a resource, or all of them); None if
    it is not."""
    for item in content:
        if len(item.content) > limits.max_resource_bytes:
            return (
                f"resource '{item.name}' has {len(item.content)} bytes, more than the limit of "
                f"{limits.max_resource_bytes}"
            )
    total = sum(len(item.content) for item in content)
    if total > limits.max_unit_bytes:
        return f"the unit has {total} bytes, more than the limit of {limits.max_unit_bytes}"
    return None


def check_limits(content: Sequence[NamedContent], limits: Limits) -> ContentProblem | None:
    """Refuse too many, too large or badly named resources before parsing anything."""
    if len(content) > limits.max_resources:
        return ContentProblem(
            f"the unit has {len(content)} resources, more than the limit of {limits.max_resources}",
            False,
            UnitReason.LIMIT_EXCEEDED,
        )
    for item in content:
        try:
            validate_resource_name(item.name)
        except ArchiveError as error:
            return ContentProblem(str(error), False, UnitReason.INVALID_CONTENT)
    oversized = size_problem(content, limits)
    if oversized is not None:
        return ContentProblem(oversized, False, UnitReason.LIMIT_EXCEEDED)
    names = [item.name for item in content]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        return ContentProblem(
            f"resource name(s) given twice: {', '.join(duplicates)}",
            False,
            UnitReason.INVALID_CONTENT,
        )
    if not content:
        return ContentProblem(
            "the unit's sources hold no resources", False, UnitReason.INVALID_CONTENT
        )
    return None


def analyze(
    content: Sequence[NamedContent],
    limits: Limits,
    *,
    deny_custom_code: bool,
    jbpm: bool,
    validate: bool = True,
) -> list[ParsedDefinition] | ContentProblem:
    """Parse every model resource into definitions, enforcing limits and the code policy.

    Camunda deploys only executable processes; jBPM (ids with ':') deploys every process.
    With `validate`, models are also checked as that engine checks them (schema, references);
    a unit bound to a real engine leaves that to the engine.
    """
    problem = check_limits(content, limits)
    if problem is not None:
        return problem
    parsed: list[ParsedDefinition] = []
    findings: list[str] = []
    for item in sorted(content, key=lambda item: item.name):
        kind = model_kind_of(item.name)
        if kind is None:
            continue
        try:
            document = parse_xml_document(
                item.content, item.name, max_bytes=limits.max_resource_bytes
            )
            # As the engines: the schema and the references first, then the definitions.
            if validate:
                validate_model(document, kind, Rules.JBPM if jbpm else Rules.CAMUNDA)
            definitions = definitions_of(document, kind)
        except ContentError as error:
            return ContentProblem(str(error), False, UnitReason.INVALID_CONTENT)
        if deny_custom_code:
            findings += [f"{item.name}: {f}" for f in find_custom_code(item.name, document.root)]
        # Only the jBPM dialect lists process variables: other units do not store them.
        parsed += [
            d if jbpm else dataclasses.replace(d, variables=())
            for d in definitions
            if jbpm or d.kind != "process" or d.executable
        ]
    if findings:
        return ContentProblem(
            "custom code is not allowed in this namespace; found " + "; ".join(findings),
            False,
            UnitReason.CUSTOM_CODE_REFUSED,
        )
    for definition in parsed:
        if len(definition.variables) > MAX_PROCESS_VARIABLES:
            return ContentProblem(
                f"resource '{definition.resource}': process '{definition.key}' has "
                f"{len(definition.variables)} process variables, more than "
                f"{MAX_PROCESS_VARIABLES}",
                False,
                UnitReason.LIMIT_EXCEEDED,
            )
        long_variable = next(
            (n for n, t in definition.variables if max(len(n), len(t)) > _VARIABLE_TEXT_LIMIT),
            None,
        )
        if long_variable is not None:
            return ContentProblem(
                f"resource '{definition.resource}': process '{definition.key}' has a variable "
                f"'{long_variable[:64]}...' whose name or type is longer than "
                f"{_VARIABLE_TEXT_LIMIT} characters",
                False,
                UnitReason.INVALID_CONTENT,
            )
        too_long = _over_long_attribute(definition)
        if too_long is not None:
            return ContentProblem(too_long, False, UnitReason.INVALID_CONTENT)
    seen: set[VersionKey] = set()
    for definition in parsed:
        key = (definition.kind, definition.key)
        if key in seen:
            return ContentProblem(
                f"The deployment contains definitions with the same key '{definition.key}' "
                "(id attribute), this is not allowed",
                False,
                UnitReason.INVALID_CONTENT,
            )
        seen.add(key)
    return parsed


#: Bounds of the definition attributes kept in status (the CRD schema enforces them too).
_ATTRIBUTE_LIMITS = {
    "name": 1024,
    "version_tag": 255,
    "category": 1024,
    "package_name": 255,
    "jbpm_version": 255,
}


#: Bound of a process variable's name and type (ProcessVariable in the CRD).
_VARIABLE_TEXT_LIMIT = 1024


def _over_long_attribute(definition: ParsedDefinition) -> str | None:
    for attribute, limit in _ATTRIBUTE_LIMITS.items():
        value = getattr(definition, attribute)
        if value is not None and len(value) > limit:
            return (
                f"resource '{definition.resource}': {definition.kind} '{definition.key}' has "
                f"a {attribute} of {len(value)} characters, more than {limit}"
            )
    return None


@dataclass(frozen=True)
class DuplicateOutcome:
    """Result of Camunda's duplicate filtering against earlier deployments."""

    #: The earlier deployment this one duplicates entirely, if any.
    duplicate_of: str | None
    #: Names of the resources whose definitions get new versions.
    deployed_names: frozenset[str]


def filter_duplicates(
    spec: DeploymentUnitSpec,
    resources: Sequence[StoredResource],
    history: Sequence[PreviousDeployment],
) -> DuplicateOutcome:
    """Compare by name against the latest earlier resource of each name (Camunda's rule)."""
    names = frozenset(r.name for r in resources)
    if not spec.enable_duplicate_filtering or not history:
        return DuplicateOutcome(None, names)
    latest: dict[str, str] = {}
    ordered = sorted(history, key=lambda d: d.deployment_time, reverse=True)
    for deployment in ordered:
        for name, sha in deployment.resources.items():
            latest.setdefault(name, sha)
    changed = frozenset(r.name for r in resources if latest.get(r.name) != r.sha256)
    if not changed:
        return DuplicateOutcome(ordered[0].deployment_id, frozenset())
    return DuplicateOutcome(None, changed if spec.deploy_changed_only else names)


def definition_id(key: str, version: int, unit_uid: str) -> str:
    """Camunda's id form `key:version:unique`, or only the unique part when that is too long."""
    unique = str(uuid.uuid5(uuid.NAMESPACE_URL, f"deployunits:{unit_uid}#{key}"))
    candidate = f"{key}:{version}:{unique}"
    return candidate if len(candidate) <= 64 else unique


def assign_versions(
    parsed: Sequence[ParsedDefinition], versions: Mapping[VersionKey, int], unit_uid: str
) -> list[Definition]:
    """Definitions with the versions allocated for them."""
    return [
        Definition(
            kind=p.kind,
            id=definition_id(p.key, versions[(p.kind, p.key)], unit_uid),
            key=p.key,
            name=p.name,
            version=versions[(p.kind, p.key)],
            version_tag=p.version_tag,
            resource=p.resource,
            category=p.category,
            history_time_to_live=p.history_time_to_live_days,
            startable=p.startable if p.kind == "process" else None,
            decision_requirements_key=p.decision_requirements_key,
            package_name=p.package_name,
            model_version=p.jbpm_version,
            variables=[ProcessVariable(name=n, type=t) for n, t in p.variables]
            if p.variables
            else None,
        )
        for p in parsed
    ]


# A job's explanation is cut to the CRD's maxLength for it (Job.explanation).
_EXPLANATION_LIMIT = 32768


class _Conditions:
    """Accumulates condition changes for one pass."""

    def __init__(self, current: Sequence[cond.Condition], generation: int, now: datetime) -> None:
        self.items = list(current)
        self.generation = generation
        self.now = now

    def put(
        self, type_: ConditionType, status: cond.ConditionStatus, reason: str, msg: str
    ) -> None:
        self.items = cond.set_condition(
            self.items, type_, status, reason, msg, generation=self.generation, at=self.now
        )

    def settle(self, ready_reason: str, message: str, *, deployed: bool) -> None:
        """The conditions of a finished job that reached its desired state."""
        self.put(ConditionType.READY, "True", ready_reason, message)
        self.put(ConditionType.DEPLOYED, "True" if deployed else "False", ready_reason, message)
        self.put(ConditionType.RECONCILING, "False", UnitReason.JOB_FINISHED, "")
        self.put(ConditionType.STALLED, "False", UnitReason.NO_FAILURE, "")

    def stop(self, problem: ContentProblem, *, deployed: bool, permanent: bool) -> None:
        """The conditions of a job stopped by a problem: retried, or Stalled if permanent."""
        self.put(ConditionType.READY, "False", problem.reason, problem.message)
        self.put(
            ConditionType.DEPLOYED, "True" if deployed else "False", problem.reason, problem.message
        )
        if permanent:
            self.put(ConditionType.RECONCILING, "False", UnitReason.JOB_FAILED, "")
            self.put(ConditionType.STALLED, "True", problem.reason, problem.message)
        else:
            self.put(ConditionType.RECONCILING, "True", problem.reason, problem.message)
            self.put(ConditionType.STALLED, "False", UnitReason.NO_FAILURE, "")


class _NewStatus:
    """One pass's new status: from the current one (or an empty one), written all at once."""

    def __init__(
        self, current: DeploymentUnitStatus | None, generation: int, now: datetime
    ) -> None:
        self.current = current or DeploymentUnitStatus()
        self.conditions = _Conditions(self.current.conditions, generation, now)

    def status(self, **fields: Any) -> DeploymentUnitStatus:
        """The status with these fields, the pass's generation and its conditions."""
        update = {
            "observed_generation": self.conditions.generation,
            **fields,
            "conditions": self.conditions.items,
        }
        return self.current.model_copy(update=update)


def _finished(job: Job, now: datetime, *, success: bool, explanation: str) -> Job:
    """The job with its outcome: when it finished, whether it succeeded, and why."""
    return job.model_copy(
        update={
            "finished": now,
            "success": success,
            "explanation": explanation[:_EXPLANATION_LIMIT],
        }
    )


def observed_status(
    current: DeploymentUnitStatus, generation: int, now: datetime
) -> DeploymentUnitStatus:
    """Nothing to do but acknowledge a new generation (for example a strategy set later)."""
    conditions = _Conditions([], generation, now)
    conditions.items = [
        c.model_copy(update={"observed_generation": generation}) for c in current.conditions
    ]
    return current.model_copy(
        update={"observed_generation": generation, "conditions": conditions.items}
    )


def undeployed_status(
    current: DeploymentUnitStatus | None, job: Job, generation: int, now: datetime
) -> DeploymentUnitStatus:
    """The unit is undeployed: definitions withdrawn, snapshots kept for a later deploy."""
    new = _NewStatus(current, generation, now)
    new.conditions.settle(
        UnitReason.UNDEPLOYED, "The unit is undeployed as desired.", deployed=False
    )
    return new.status(
        status=DeploymentStatus.UNDEPLOYED,
        definitions=[],
        job=_finished(job, now, success=True, explanation="undeploy job finished"),
    )


def waiting_status(
    current: DeploymentUnitStatus | None,
    job: Job,
    problem: ContentProblem,
    generation: int,
    now: datetime,
) -> DeploymentUnitStatus:
    """A temporary problem: the job keeps DEPLOYING and is retried with backoff."""
    new = _NewStatus(current, generation, now)
    deployed = new.current.status is DeploymentStatus.DEPLOYED
    new.conditions.stop(problem, deployed=deployed, permanent=False)
    return new.status(
        status=DeploymentStatus.DEPLOYING,
        job=job.model_copy(update={"explanation": problem.message[:_EXPLANATION_LIMIT]}),
    )


def failed_status(
    current: DeploymentUnitStatus | None,
    job: Job,
    problem: ContentProblem,
    spec: DeploymentUnitSpec,
    generation: int,
    now: datetime,
) -> DeploymentUnitStatus:
    """A permanent problem: DEPLOY_FAILED and Stalled until the spec changes."""
    new = _NewStatus(current, generation, now)
    new.conditions.stop(problem, deployed=False, permanent=True)
    return new.status(
        status=DeploymentStatus.DEPLOY_FAILED,
        definitions=[],
        job=_finished(job, now, success=False, explanation=problem.message),
        source_digest=source_digest(spec),
    )


def deployed_status(
    current: DeploymentUnitStatus | None,
    job: Job,
    spec: DeploymentUnitSpec,
    resources: Sequence[StoredResource],
    definitions: Sequence[Definition],
    duplicate_of: str | None,
    generation: int,
    deployed_at: datetime,
) -> DeploymentUnitStatus:
    """The deploy job finished: resources stored, definitions versioned, the deployment stamped
    to the millisecond (conditions and the job to the second, as metav1.Time has them)."""
    now = deployed_at.replace(microsecond=0)
    new = _NewStatus(current, generation, now)
    if duplicate_of is not None:
        message = f"Identical to deployment {duplicate_of}; no new versions."
        new.conditions.settle(UnitReason.DUPLICATE, message, deployed=True)
    else:
        message = f"Deployed {len(resources)} resource(s), {len(definitions)} definition(s)."
        new.conditions.settle(UnitReason.DEPLOYED, message, deployed=True)
    new.conditions.put(ConditionType.SOURCE_DRIFTED, "False", UnitReason.SOURCE_UNCHANGED, "")
    return new.status(
        status=DeploymentStatus.DEPLOYED,
        deployment_time=deployed_at,
        resources=list(resources),
        definitions=list(definitions),
        duplicate_of=duplicate_of,
        job=_finished(job, now, success=True, explanation="deploy job finished"),
        source_digest=source_digest(spec),
    )


def drift_status(
    current: DeploymentUnitStatus, changed: Sequence[str], generation: int, now: datetime
) -> DeploymentUnitStatus | None:
    """SourceDrifted set from a comparison of the sources with the snapshot; None if unchanged."""
    conditions = _Conditions(current.conditions, generation, now)
    if changed:
        message = (
            f"The source of {', '.join(sorted(changed))} changed after deployment; the unit "
            "keeps its snapshot until it is deployed again."
        )
        conditions.put(ConditionType.SOURCE_DRIFTED, "True", UnitReason.SOURCE_CHANGED, message)
    else:
        conditions.put(ConditionType.SOURCE_DRIFTED, "False", UnitReason.SOURCE_UNCHANGED, "")
    if conditions.items == list(current.conditions):
        return None
    return current.model_copy(update={"conditions": conditions.items})


@dataclass(frozen=True)
class Transition:
    """A Kubernetes Event to post for a change of the status enum."""

    type: str
    reason: str
    message: str


def transition(
    before: DeploymentUnitStatus | None, after: DeploymentUnitStatus
) -> Transition | None:
    """The Event for a status change, or None when the status enum did not move."""
    old = before.status if before is not None else None
    if old is after.status or after.status is None:
        return None
    failed = after.status in (DeploymentStatus.DEPLOY_FAILED, DeploymentStatus.UNDEPLOY_FAILED)
    reason = "".join(part.capitalize() for part in after.status.value.split("_"))
    explanation = after.job.explanation if after.job and after.job.explanation else ""
    message = f"{old.value if old else 'NEW'} -> {after.status.value}" + (
        f": {explanation}" if explanation else ""
    )
    return Transition("Warning" if failed else "Normal", reason, message[:1024])
