"""Pure job semantics: a unit's jBPM status, pending jobs, queue records and the admission rules.

A unit has a pending (submitted, unfinished) job while its generation is not yet observed, while
the operator reports ACCEPTED, DEPLOYING or UNDEPLOYING, and while it is being deleted (the
finalizer undeploys it). A job admitted by the shim but not yet written into its unit lives as a
`Record` in the queue ledger; it is pending as well until the unit shows it.

The admission rules follow the engine: kie-remote 6.5's DeployResourceBase for the state checks
and texts, and 6.0's AsyncDeploymentJobExecutor for the queue (full queue first, then an
identical job already submitted and not finished).
"""

import functools
import json
from dataclasses import dataclass
from typing import Literal

from deployunits.api.cache import CachedUnit
from deployunits.api.jbpm import ids
from deployunits.api.jbpm.wire import DeploymentJobResult, JaxbDeploymentStatus, JaxbDeploymentUnit
from deployunits.models.deploymentunit import (
    DeploymentStatus,
    DesiredState,
    JobOperation,
    MergeMode,
    RuntimeStrategy,
)

ALREADY_DEPLOYED = "The deployment already exists and must be first undeployed!"
NOT_YET_DEPLOYED = (
    "The deployment can not be undeployed because the initial deployment has not yet fully "
    "completed."
)
INITIAL_DEPLOYMENT_FAILED = (
    "The deployment can not be undeployed because the initial deployment failed."
)
ALREADY_UNDEPLOYED = (
    "The deployment can not be undeployed because it has already been undeployed (or is "
    "currently being undeployed)"
)
LAST_UNDEPLOYMENT_FAILED = (
    "The last undeployment failed, but the deployment unit is no longer present (and can not be "
    "undeployed, thus). There is probably a very high load on this server. Turning on debugging "
    "may provide insight."
)
QUEUE_FULL = "Queue is full with existing incomplete un/deploy jobs"
#: jBPM's default runtime strategy (KModuleDeploymentUnit).
DEFAULT_STRATEGY = RuntimeStrategy.SINGLETON
#: Bounds of the unit's spec fields an id must fit (DeploymentUnitSpec, MavenArtifact).
MAX_ID_LENGTH = 253
MAX_VERSION_LENGTH = 128


def job_exists(operation: JobOperation, deployment_id: str) -> str:
    """The text for an identical job already submitted and not finished."""
    return f"A job already exists to {operation.value.lower()} deployment [{deployment_id}]"


def job_accepted(operation: JobOperation) -> str:
    return f"{operation.value.lower()} job accepted."


def unable(operation: JobOperation, deployment_id: str, exception: str, message: str) -> str:
    """The scheduling-error text: `Unable to deploy deployment '<id>': <E> thrown [<msg>]`."""
    return (
        f"Unable to {operation.value.lower()} deployment '{deployment_id}': "
        f"{exception} thrown [{message}]"
    )


# The state of one unit.


def pending_operation(unit: CachedUnit) -> JobOperation | None:
    """The kind of job the unit has pending, or None when its last job has finished."""
    if unit.deleting:
        return JobOperation.UNDEPLOY
    wanted = (
        JobOperation.DEPLOY if unit.spec.state is DesiredState.DEPLOYED else JobOperation.UNDEPLOY
    )
    if unit.status.observed_generation != unit.generation:
        return wanted
    if unit.status.status in (
        DeploymentStatus.ACCEPTED,
        DeploymentStatus.DEPLOYING,
        DeploymentStatus.UNDEPLOYING,
    ):
        return wanted
    return None


def unit_status(unit: CachedUnit) -> JaxbDeploymentStatus:
    """The jBPM status of a unit: ACCEPTED while a deploy is unobserved, and so on."""
    if unit.deleting:
        return JaxbDeploymentStatus.UNDEPLOYING
    if unit.status.observed_generation != unit.generation or unit.status.status is None:
        if unit.spec.state is DesiredState.DEPLOYED:
            return JaxbDeploymentStatus.ACCEPTED
        return JaxbDeploymentStatus.UNDEPLOYING
    return JaxbDeploymentStatus(unit.status.status.value)


def is_deployed(unit: CachedUnit | None) -> bool:
    """Whether the unit is deployed right now (also while an undeploy of it is pending)."""
    return (
        unit is not None and not unit.deleting and unit.status.status is DeploymentStatus.DEPLOYED
    )


# Queue records.

Action = Literal["create", "patch", "retry"]


@dataclass(frozen=True)
class Record:
    """A job the queue admitted: what to write into which unit, and when it counts as written.

    `create` creates the unit; `patch` changes spec.state (and strategy / mergeMode) of the unit
    as it was at `generation`; `retry` redeploys a unit whose deploy failed, which needs two
    generations (Undeployed, then Deployed) because the operator retries a permanent failure
    only after a change of the spec.
    """

    seq: int
    operation: JobOperation
    deployment_id: str
    unit: str
    action: Action
    generation: int = 0
    resource_version: int = 0
    strategy: RuntimeStrategy | None = None
    merge_mode: MergeMode | None = None
    #: Unix time of admission; records left unwritten that long are taken over by any replica.
    submitted: float = 0.0
    replica: str = ""

    @property
    def expected_generation(self) -> int:
        """The unit generation at which the job has been written."""
        if self.action == "create":
            return 1
        return self.generation + (2 if self.action == "retry" else 1)

    @functools.cached_property
    def encoded(self) -> str:
        """Compact JSON (the ledger is rewritten with every admission, so size is time)."""
        return json.dumps(
            [
                self.seq,
                self.operation.value,
                self.action,
                self.generation,
                self.resource_version,
                self.strategy.value if self.strategy else None,
                self.merge_mode.value if self.merge_mode else None,
                round(self.submitted, 3),
                self.replica,
                self.deployment_id,
            ],
            separators=(",", ":"),
        )

    @classmethod
    def decode(cls, unit: str, stored: object) -> "Record":
        """The record of a unit as stored (JSON text, or the list it holds); ValueError (or
        TypeError) when it is not one."""
        data = json.loads(stored) if isinstance(stored, str) else stored
        if not isinstance(data, list) or len(data) != 10:
            raise ValueError("not a job record")
        seq, op, action, generation, version, strategy, merge, submitted, replica, ident = data
        if action not in ("create", "patch", "retry"):
            raise ValueError(f"unknown action {action!r}")
        return cls(
            seq=int(seq),
            operation=JobOperation(op),
            deployment_id=str(ident),
            unit=unit,
            action=action,
            generation=int(generation or 0),
            resource_version=int(version or 0),
            strategy=RuntimeStrategy(strategy) if strategy else None,
            merge_mode=MergeMode(merge) if merge else None,
            submitted=float(submitted or 0.0),
            replica=str(replica or ""),
        )


def written(record: Record, unit: CachedUnit | None) -> bool:
    """Whether the unit (as cached) already shows the record, or the record no longer applies.

    A created unit is written once it exists; a patched one once its generation reached the
    expected one. A patch record whose unit is gone no longer applies.
    """
    if record.action == "create":
        return unit is not None
    return unit is None or unit.generation >= record.expected_generation


# What the queue knows about one deployment.


@dataclass(frozen=True)
class UnitState:
    """One deployment as seen by the queue: its unit (if any) and its queued record (if any)."""

    deployment_id: str
    name: str
    unit: CachedUnit | None
    queued: Record | None

    @property
    def pending(self) -> JobOperation | None:
        if self.queued is not None:
            return self.queued.operation
        return pending_operation(self.unit) if self.unit is not None else None

    @property
    def status(self) -> JaxbDeploymentStatus:
        """The jBPM status (UNDEPLOYED for unknown ids, as kie-remote 6.3+ answers)."""
        if self.queued is not None:
            if self.queued.operation is JobOperation.DEPLOY:
                return JaxbDeploymentStatus.ACCEPTED
            return JaxbDeploymentStatus.UNDEPLOYING
        if self.unit is None:
            return JaxbDeploymentStatus.UNDEPLOYED
        return unit_status(self.unit)

    @property
    def strategy(self) -> RuntimeStrategy | None:
        """The strategy the unit carries (or will carry once the queued job is written)."""
        if self.queued is not None and self.queued.strategy is not None:
            return self.queued.strategy
        return self.unit.spec.strategy if self.unit is not None else None


def state_of(deployment_id: str, unit: CachedUnit | None, record: Record | None) -> UnitState:
    """The state from the cached unit and the queue's record, ignoring a record already written."""
    queued = record if record is not None and not written(record, unit) else None
    name = (
        unit.name if unit is not None else (record.unit if record else ids.unit_name(deployment_id))
    )
    return UnitState(deployment_id, name, unit, queued)


def wire_unit(
    deployment_id: str,
    strategy: RuntimeStrategy | None,
    status: JaxbDeploymentStatus | None,
) -> JaxbDeploymentUnit:
    """A JaxbDeploymentUnit of an id with the given strategy and status."""
    parts = ids.parse(deployment_id)
    return JaxbDeploymentUnit(
        group_id=parts.group_id,
        artifact_id=parts.artifact_id,
        version=parts.version,
        kbase_name=parts.kbase,
        ksession_name=parts.ksession,
        strategy=strategy,
        status=status,
    )


def describe(state: UnitState) -> JaxbDeploymentUnit:
    """GET /deployment/{id}: the unit with its effective strategy and jBPM status."""
    status = state.status
    strategy = state.strategy
    if strategy is None and (state.unit is not None or state.queued is not None):
        strategy = DEFAULT_STRATEGY
    return wire_unit(state.deployment_id, strategy, status)


# Admission.


@dataclass(frozen=True)
class Request:
    """A deploy or undeploy as the client asked for it (values already validated)."""

    operation: JobOperation
    deployment_id: str
    strategy: RuntimeStrategy | None = None
    merge_mode: MergeMode | None = None


@dataclass(frozen=True)
class Admit:
    """The job may be queued: the record to store, and the strategy the answer shows."""

    record: Record
    strategy: RuntimeStrategy

    def result(self) -> DeploymentJobResult:
        record = self.record
        return DeploymentJobResult(
            identifier=record.seq,
            operation=record.operation,
            deployment_unit=wire_unit(
                record.deployment_id, self.strategy, JaxbDeploymentStatus.ACCEPTED
            ),
            success=True,
            explanation=job_accepted(record.operation),
        )


@dataclass(frozen=True)
class Refuse:
    """The job is refused: 202 with success false and the engine's explanation."""

    result: DeploymentJobResult


def _refuse(
    request: Request,
    explanation: str,
    strategy: RuntimeStrategy | None,
    status: JaxbDeploymentStatus | None,
) -> Refuse:
    return Refuse(
        DeploymentJobResult(
            identifier=None,
            operation=request.operation,
            deployment_unit=wire_unit(request.deployment_id, strategy, status),
            success=False,
            explanation=explanation,
        )
    )


def _requested_strategy(request: Request, state: UnitState) -> RuntimeStrategy:
    return request.strategy or state.strategy or DEFAULT_STRATEGY


def check_id(request: Request) -> Refuse | None:
    """Ids the unit's spec cannot hold (longer than its fields allow) are refused."""
    parts = ids.parse(request.deployment_id)
    problem = None
    if len(request.deployment_id) > MAX_ID_LENGTH:
        problem = f"the deployment id is longer than {MAX_ID_LENGTH} characters"
    elif len(parts.version) > MAX_VERSION_LENGTH:
        problem = f"the version is longer than {MAX_VERSION_LENGTH} characters"
    if problem is None:
        return None
    return _refuse(
        request,
        unable(request.operation, request.deployment_id, "IllegalArgumentException", problem),
        request.strategy,
        None,
    )


def refused_as_deployed(request: Request, state: UnitState) -> Refuse | None:
    """The one deploy refusal that comes before the parameter values are checked."""
    if state.pending is not JobOperation.DEPLOY and is_deployed(state.unit):
        assert state.unit is not None
        return _refuse(
            request, ALREADY_DEPLOYED, state.unit.spec.strategy or DEFAULT_STRATEGY, None
        )
    return None


@dataclass(frozen=True)
class _Queue:
    """The queue as one admission sees it: how full it is, and the slot a new job takes."""

    pending_jobs: int
    limit: int
    seq: int
    now: float
    replica: str

    def refusal(
        self, request: Request, state: UnitState, strategy: RuntimeStrategy
    ) -> Refuse | None:
        """The engine's queue rules: a full queue first, then an identical job not finished."""
        if self.pending_jobs >= self.limit:
            return _refuse(request, QUEUE_FULL, strategy, None)
        if state.pending is request.operation:
            exists = job_exists(request.operation, request.deployment_id)
            return _refuse(request, exists, strategy, None)
        return None

    def record(
        self,
        request: Request,
        state: UnitState,
        action: Action,
        *,
        strategy: RuntimeStrategy | None,
        merge_mode: MergeMode | None = None,
        unit: CachedUnit | None = None,
    ) -> Record:
        """The admitted job; a patch or retry names the generation of the unit it changes."""
        return Record(
            seq=self.seq,
            operation=request.operation,
            deployment_id=request.deployment_id,
            unit=state.name,
            action=action,
            generation=unit.generation if unit is not None else 0,
            resource_version=unit.resource_version if unit is not None else 0,
            strategy=strategy,
            merge_mode=merge_mode,
            submitted=self.now,
            replica=self.replica,
        )


def decide(
    request: Request,
    state: UnitState,
    pending_jobs: int,
    limit: int,
    *,
    seq: int,
    now: float,
    replica: str,
) -> Admit | Refuse:
    """Admit or refuse a job, given the deployment's state and the queue's pending jobs."""
    queue = _Queue(pending_jobs, limit, seq, now, replica)
    if request.operation is JobOperation.DEPLOY:
        return _decide_deploy(request, state, queue)
    return _decide_undeploy(request, state, queue)


def _decide_deploy(request: Request, state: UnitState, queue: _Queue) -> Admit | Refuse:
    deployed = refused_as_deployed(request, state)
    if deployed is not None:
        return deployed
    bad_id = check_id(request)
    if bad_id is not None:
        return bad_id
    requested = _requested_strategy(request, state)
    unit = state.unit
    if unit is not None and unit.deleting:
        return _refuse(
            request,
            unable(
                request.operation,
                request.deployment_id,
                "IllegalStateException",
                "the deployment unit is being deleted",
            ),
            requested,
            JaxbDeploymentStatus.ACCEPTED,
        )
    queued = queue.refusal(request, state, requested)
    if queued is not None:
        return queued
    if unit is not None and unit.spec.strategy is not None and requested != unit.spec.strategy:
        message = (
            f"the runtime strategy of a deployment cannot change once set "
            f"({unit.spec.strategy.value}, requested {requested.value})"
        )
        return _refuse(
            request,
            unable(request.operation, request.deployment_id, "IllegalStateException", message),
            requested,
            JaxbDeploymentStatus.ACCEPTED,
        )
    if unit is None:
        record = queue.record(
            request, state, "create", strategy=requested, merge_mode=request.merge_mode
        )
    else:
        # Write the strategy only where the unit has none yet (it is write-once).
        record = queue.record(
            request,
            state,
            "retry" if unit.spec.state is DesiredState.DEPLOYED else "patch",
            strategy=request.strategy if unit.spec.strategy is None else None,
            merge_mode=request.merge_mode,
            unit=unit,
        )
    return Admit(record, requested)


def _decide_undeploy(request: Request, state: UnitState, queue: _Queue) -> Admit | Refuse:
    status = state.status
    if state.pending is JobOperation.DEPLOY:
        return _refuse(request, NOT_YET_DEPLOYED, None, status)
    if state.pending is None and not is_deployed(state.unit):
        if status is JaxbDeploymentStatus.DEPLOY_FAILED:
            explanation = INITIAL_DEPLOYMENT_FAILED
        elif status is JaxbDeploymentStatus.UNDEPLOY_FAILED:
            explanation = LAST_UNDEPLOYMENT_FAILED
        else:
            explanation = ALREADY_UNDEPLOYED
        return _refuse(request, explanation, None, status)
    strategy = state.strategy or DEFAULT_STRATEGY
    queued = queue.refusal(request, state, strategy)
    if queued is not None:
        return queued
    assert state.unit is not None
    return Admit(queue.record(request, state, "patch", strategy=None, unit=state.unit), strategy)
