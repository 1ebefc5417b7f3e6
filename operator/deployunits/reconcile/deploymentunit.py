"""Pure reconcile of a DeploymentUnit: spec, current status and fetched content → next status."""

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from deployunits.models import conditions as cond
from deployunits.models.conditions import ConditionType
from deployunits.models.deploymentunit import (
    DeploymentStatus,
    DeploymentUnitSpec,
    DeploymentUnitStatus,
    DesiredState,
    Job,
    JobOperation,
    StoredResource,
)


class Reason(StrEnum):
    """Reasons of the conditions the operator writes (CamelCase, as metav1 requires)."""

    DEPLOYED = "Deployed"
    UNDEPLOYED = "Undeployed"
    DEPLOYING = "Deploying"
    WAITING_FOR_CONTENT = "WaitingForContent"
    INVALID_CONTENT = "InvalidContent"
    JOB_FINISHED = "JobFinished"
    JOB_FAILED = "JobFailed"
    NO_FAILURE = "NoFailure"


@dataclass(frozen=True)
class NamedContent:
    """One resource as fetched from its source."""

    name: str
    content: bytes


@dataclass(frozen=True)
class ContentProblem:
    """Why the content could not be taken; temporary problems are retried."""

    message: str
    temporary: bool


@dataclass(frozen=True)
class Observation:
    """Everything the decision needs that came from the outside world."""

    uid: str
    generation: int
    now: datetime
    content: Sequence[NamedContent] | ContentProblem


def resource_id(unit_uid: str, name: str) -> str:
    """A resource id that stays the same for the same unit and resource name."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"deployunits:{unit_uid}/{name}"))


def describe_resources(unit_uid: str, content: Sequence[NamedContent]) -> list[StoredResource]:
    """The status entries of fetched resources, in name order."""
    return [
        StoredResource(
            id=resource_id(unit_uid, item.name),
            name=item.name,
            sha256=hashlib.sha256(item.content).hexdigest(),
            size=len(item.content),
        )
        for item in sorted(content, key=lambda item: item.name)
    ]


def _job_for(spec: DeploymentUnitSpec, previous: Job | None, obs: Observation) -> Job:
    """The job this pass works on: the previous one if it is for the same state, else a new one."""
    operation = (
        JobOperation.DEPLOY if spec.state is DesiredState.DEPLOYED else JobOperation.UNDEPLOY
    )
    if previous is not None and previous.operation is operation:
        return previous
    return Job(
        identifier=str(obs.generation),
        operation=operation,
        submitted=obs.now,
        started=obs.now,
    )


def next_status(
    spec: DeploymentUnitSpec, current: DeploymentUnitStatus | None, obs: Observation
) -> DeploymentUnitStatus:
    """The status to write after one reconcile pass (computed once, written once)."""
    current = current or DeploymentUnitStatus()
    job = _job_for(spec, current.job, obs)
    conditions = list(current.conditions)

    def put(type_: ConditionType, status: cond.ConditionStatus, reason: str, message: str) -> None:
        nonlocal conditions
        conditions = cond.set_condition(
            conditions, type_, status, reason, message, generation=obs.generation, at=obs.now
        )

    if job.operation is JobOperation.UNDEPLOY:
        finished = job.finished or obs.now
        job = job.model_copy(
            update={"finished": finished, "success": True, "explanation": "undeploy job finished"}
        )
        put(ConditionType.READY, "True", Reason.UNDEPLOYED, "The unit is undeployed as desired.")
        put(ConditionType.DEPLOYED, "False", Reason.UNDEPLOYED, "The unit is undeployed.")
        put(ConditionType.RECONCILING, "False", Reason.JOB_FINISHED, "")
        put(ConditionType.STALLED, "False", Reason.NO_FAILURE, "")
        return current.model_copy(
            update={
                "observed_generation": obs.generation,
                "status": DeploymentStatus.UNDEPLOYED,
                "job": job,
                "conditions": conditions,
            }
        )

    if isinstance(obs.content, ContentProblem):
        problem = obs.content
        if problem.temporary:
            put(ConditionType.READY, "False", Reason.WAITING_FOR_CONTENT, problem.message)
            put(ConditionType.DEPLOYED, "False", Reason.WAITING_FOR_CONTENT, problem.message)
            put(ConditionType.RECONCILING, "True", Reason.WAITING_FOR_CONTENT, problem.message)
            put(ConditionType.STALLED, "False", Reason.NO_FAILURE, "")
            status = DeploymentStatus.DEPLOYING
        else:
            job = job.model_copy(
                update={"finished": obs.now, "success": False, "explanation": problem.message}
            )
            put(ConditionType.READY, "False", Reason.INVALID_CONTENT, problem.message)
            put(ConditionType.DEPLOYED, "False", Reason.INVALID_CONTENT, problem.message)
            put(ConditionType.RECONCILING, "False", Reason.JOB_FAILED, "")
            put(ConditionType.STALLED, "True", Reason.INVALID_CONTENT, problem.message)
            status = DeploymentStatus.DEPLOY_FAILED
        return current.model_copy(
            update={
                "observed_generation": obs.generation,
                "status": status,
                "job": job,
                "conditions": conditions,
            }
        )

    resources = describe_resources(obs.uid, obs.content)
    already = current.status is DeploymentStatus.DEPLOYED and job is current.job
    job = job.model_copy(
        update={
            "finished": job.finished if already else obs.now,
            "success": True,
            "explanation": "deploy job finished",
        }
    )
    message = f"Deployed {len(resources)} resource(s)."
    put(ConditionType.READY, "True", Reason.DEPLOYED, message)
    put(ConditionType.DEPLOYED, "True", Reason.DEPLOYED, message)
    put(ConditionType.RECONCILING, "False", Reason.JOB_FINISHED, "")
    put(ConditionType.STALLED, "False", Reason.NO_FAILURE, "")
    return current.model_copy(
        update={
            "observed_generation": obs.generation,
            "status": DeploymentStatus.DEPLOYED,
            "deployment_time": current.deployment_time or obs.now,
            "resources": resources,
            "job": job,
            "conditions": conditions,
        }
    )
