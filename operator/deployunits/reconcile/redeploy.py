"""Pure decisions of a Redeploy: which resources, the new unit, and the request's status."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, NamedTuple

from deployunits import constants
from deployunits.models import conditions as cond
from deployunits.models.conditions import ConditionType
from deployunits.models.deploymentunit import (
    DeploymentStatus,
    DeploymentUnit,
    DeploymentUnitSpec,
    DeploymentUnitStatus,
    DesiredState,
    ResourceSources,
    SnapshotRef,
    StoredResource,
)
from deployunits.models.redeploy import RedeploySpec, RedeployStatus


class RedeployReason(StrEnum):
    """Condition reasons of a Redeploy; NotFound and Invalid carry the engine's meaning."""

    NOT_FOUND = "NotFound"
    INVALID = "Invalid"
    REDEPLOYED = "Redeployed"
    IN_PROGRESS = "InProgress"
    WAITING_FOR_SOURCE = "WaitingForSource"
    NO_FAILURE = "NoFailure"


@dataclass(frozen=True)
class Failure:
    """The request cannot succeed; retrying will not change that."""

    reason: RedeployReason
    message: str


def is_finished(status: RedeployStatus | None) -> bool:
    """Whether the request has an outcome (Succeeded or Stalled)."""
    if status is None:
        return False
    return cond.is_true(status.conditions, ConditionType.SUCCEEDED) or cond.is_true(
        status.conditions, ConditionType.STALLED
    )


def source_failure(deployment_id: str, source: DeploymentUnitStatus | None) -> Failure | None:
    """NotFound unless the source deployment exists and is deployed."""
    if source is None or source.status in (
        DeploymentStatus.UNDEPLOYED,
        DeploymentStatus.DEPLOY_FAILED,
        DeploymentStatus.UNDEPLOYING,
        DeploymentStatus.UNDEPLOY_FAILED,
    ):
        return Failure(
            RedeployReason.NOT_FOUND, f"Deployment with id '{deployment_id}' does not exist"
        )
    return None


def choose_resources(
    spec: RedeploySpec, resources: Sequence[StoredResource]
) -> list[StoredResource] | Failure:
    """Both lists empty: every resource; otherwise the union of ids and names (engine order)."""
    if not spec.resource_ids and not spec.resource_names:
        return list(resources)
    # The engine checks ids first, then names, and names the first kind that misses.
    for key, wanted, present in (
        ("id", spec.resource_ids, {r.id for r in resources}),
        ("name", spec.resource_names, {r.name for r in resources}),
    ):
        missing = [w for w in wanted if w not in present]
        if missing:
            return Failure(
                RedeployReason.NOT_FOUND,
                f"Cannot redeploy deployment '{spec.deployment_id}': The deployment with id "
                f"'{spec.deployment_id}' does not contain the following resources with "
                f"{key}: {', '.join(missing)}",
            )
    wanted_ids, wanted_names = set(spec.resource_ids), set(spec.resource_names)
    return [r for r in resources if r.id in wanted_ids or r.name in wanted_names]


def new_unit_name(request_uid: str) -> str:
    """The new unit's name: derived from the request's uid, so a retry finds, not duplicates."""
    return f"redeploy-{request_uid}"


def new_deployment_id(request_uid: str) -> str:
    """The new deployment's id (Camunda-style), also derived from the request's uid."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"deployunits:redeploy:{request_uid}"))


def new_unit(
    request: dict[str, Any], source_spec: dict[str, Any], chosen: Sequence[StoredResource]
) -> DeploymentUnit:
    """The DeploymentUnit a Redeploy creates: name and tenant of the original, its own source."""
    meta = request["metadata"]
    spec = RedeploySpec.model_validate(request.get("spec") or {})
    source = DeploymentUnitSpec.model_validate(source_spec)
    unit_spec = DeploymentUnitSpec.unchecked(
        deployment_id=new_deployment_id(meta["uid"]),
        resources=ResourceSources.unchecked(
            snapshots=[SnapshotRef.unchecked(name=r.name, sha256=r.sha256) for r in chosen]
        ),
        state=DesiredState.DEPLOYED,
        name=source.name,
        tenant_id=source.tenant_id,
        strategy=source.strategy,
        merge_mode=source.merge_mode,
        source=spec.source,
        # A bound deployment's redeploy goes to the same engine.
        engine_ref=source.engine_ref,
    )
    return DeploymentUnit(
        metadata={
            "name": new_unit_name(meta["uid"]),
            "namespace": meta["namespace"],
            "labels": {constants.REDEPLOY_REQUEST_LABEL: meta["name"]},
            # The request's uid: what makes the creation exactly-once.
            "annotations": {constants.REDEPLOY_REQUEST_UID_ANNOTATION: meta["uid"]},
        },
        spec=unit_spec,
    )


@dataclass(frozen=True)
class _Outcome:
    """Where a request stands, as its Succeeded, Stalled and Reconciling conditions say."""

    succeeded: cond.ConditionStatus
    stalled: bool
    reconciling: bool


_IN_PROGRESS = _Outcome("Unknown", stalled=False, reconciling=True)
_SUCCEEDED = _Outcome("True", stalled=False, reconciling=False)
_FAILED = _Outcome("False", stalled=True, reconciling=False)


def _status(
    current: RedeployStatus | None,
    generation: int,
    now: datetime,
    outcome: _Outcome,
    reason: str,
    message: str,
    fields: dict[str, Any],
) -> RedeployStatus:
    """The request's status after a pass: the given fields and its three conditions, at once."""
    stalled, reconciling = outcome.stalled, outcome.reconciling
    items = list(current.conditions) if current is not None else []
    for type_, status, why, text in (
        (ConditionType.SUCCEEDED, outcome.succeeded, reason, message),
        (
            ConditionType.STALLED,
            "True" if stalled else "False",
            reason if stalled else RedeployReason.NO_FAILURE,
            message if stalled else "",
        ),
        (
            ConditionType.RECONCILING,
            "True" if reconciling else "False",
            reason,
            message if reconciling else "",
        ),
    ):
        items = cond.set_condition(items, type_, status, why, text, generation=generation, at=now)
    base = current or RedeployStatus()
    return base.model_copy(
        update={"observed_generation": generation, **fields, "conditions": items}
    )


class NewUnit(NamedTuple):
    """The unit a request created: its name, and its deployment's id and name."""

    unit_name: str
    deployment_id: str
    name: str | None


def _new_unit_fields(new: NewUnit | None) -> dict[str, Any]:
    """Where the request's new deployment is, as far as it is known yet."""
    unit_name, deployment_id, name = new or (None, None, None)
    return {
        "new_deployment_id": deployment_id,
        "new_deployment_name": name,
        "new_unit_name": unit_name,
    }


def failed_status(
    current: RedeployStatus | None, failure: Failure, generation: int, now: datetime
) -> RedeployStatus:
    """Stalled with the engine's reason and message."""
    done = {"completion_time": now}
    return _status(current, generation, now, _FAILED, failure.reason, failure.message, done)


def progress_status(
    current: RedeployStatus | None,
    generation: int,
    now: datetime,
    *,
    new: NewUnit | None,
    reason: RedeployReason,
    message: str,
) -> RedeployStatus:
    """Still working: the new unit exists (or the source is still deploying)."""
    return _status(current, generation, now, _IN_PROGRESS, reason, message, _new_unit_fields(new))


def succeeded_status(
    current: RedeployStatus | None, generation: int, now: datetime, new: NewUnit
) -> RedeployStatus:
    """The new deployment is deployed."""
    done = {**_new_unit_fields(new), "completion_time": now}
    message = f"Redeployed as deployment {new.deployment_id}."
    return _status(current, generation, now, _SUCCEEDED, RedeployReason.REDEPLOYED, message, done)


def expires_in(spec: RedeploySpec, status: RedeployStatus | None, now: datetime) -> float | None:
    """Seconds until a finished request may be deleted; None if it lives on (no TTL)."""
    if spec.ttl_seconds_after_finished is None or status is None or status.completion_time is None:
        return None
    deadline = status.completion_time + timedelta(seconds=spec.ttl_seconds_after_finished)
    return max(0.0, (deadline - now).total_seconds())
