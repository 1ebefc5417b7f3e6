"""A unit's deployments withdrawn from its engine (undeploy and deletion)."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from deployunits import constants
from deployunits.engines import (
    EngineError,
    EngineRefused,
    EngineSettingsError,
    EngineUnauthorized,
    EngineUnavailable,
)
from deployunits.k8s.errors import ApiError
from deployunits.models.conditions import now
from deployunits.models.deploymentunit import (
    DeploymentStatus,
    DeploymentUnitSpec,
    DeploymentUnitStatus,
    Job,
)
from deployunits.models.processengine import (
    DeletePolicy,
)
from deployunits.operations.engines import kie
from deployunits.operations.engines.context import EnginesContext, Ref
from deployunits.reconcile import engine as decide


@dataclass(frozen=True)
class WithdrawOutcome:
    """What deleting a unit's engine deployment came to."""

    #: The status to write (None: write what an unbound unit would).
    status: DeploymentUnitStatus | None = None
    #: Why to try again later (nothing is written then).
    retry: str | None = None
    #: The engine keeps the deployment: the unit stays (deletion waits).
    refused: bool = False


async def withdraw(
    ctx: EnginesContext | None,
    body: Mapping[str, Any],
    status: DeploymentUnitStatus | None,
    undeployed: DeploymentUnitStatus,
    job: Job,
    generation: int,
) -> WithdrawOutcome:
    """Delete the unit's deployments in its engine (cascade per the engine's deletePolicy):
    the one its status records, and those its earlier jobs left behind (found by the push
    marker; for an adopted unit also the deployment it was adopted from), oldest first.

    The engine keeps a superseded deployment while the unit lives, as it does on any
    redeploy (instances of the earlier versions run on); the unit's undeploy or deletion
    takes all of them out of the engine."""
    meta = body["metadata"]
    ref: Ref = (meta["namespace"], meta["name"])
    sync = status.engine if status is not None else None
    if sync is None:
        return WithdrawOutcome()
    if ctx is None:
        return WithdrawOutcome(decide.withdrawn_status(undeployed, generation, now()))
    assert status is not None
    if (
        status.status is DeploymentStatus.UNDEPLOY_FAILED
        and status.observed_generation == generation
        and ref not in ctx.retry_undeploy
    ):
        # Refused before: tried again on the engine's resync, not on every event.
        return WithdrawOutcome(refused=True)
    ctx.retry_undeploy.discard(ref)
    spec = DeploymentUnitSpec.model_validate(body.get("spec") or {})
    deleting = sync.deployment_id
    try:
        # Fresh: the deletePolicy decides whether running instances are aborted, so a policy
        # changed a moment ago must count (the cached client may predate the change).
        engine = await ctx.client(ref[0], sync.name, fresh=True)
        cascade = engine.spec.delete_policy is DeletePolicy.CASCADE
        if engine.kie is not None:
            # One container per unit, whatever its jobs: it goes, or stays while instances run.
            if sync.deployment_id is not None:
                await kie.dispose(ctx, engine.kie, sync.deployment_id, cascade=cascade)
            return WithdrawOutcome(decide.withdrawn_status(undeployed, generation, now()))
        ctx.count("list")
        listed = await engine.camunda.deployments(source=decide.pushed_source(spec, meta["uid"]))
        ids = [d.id for d in listed if d.id != sync.deployment_id]
        adopted = (meta.get("annotations") or {}).get(constants.ADOPTED_FROM_ANNOTATION)
        if adopted and adopted != sync.deployment_id:
            ids.insert(0, adopted)  # an adopted unit's original, superseded by an edit
        if sync.deployment_id is not None:
            ids.append(sync.deployment_id)
        for deleting in ids:
            ctx.count("delete")
            await engine.camunda.delete_deployment(deleting, cascade=cascade)
    except EngineUnauthorized as error:
        ctx.forget_client((ref[0], sync.name))
        return WithdrawOutcome(retry=str(error))
    except EngineRefused as error:
        refused = decide.undeploy_refused_status(
            status, job, sync.name, deleting, _engine_said(error), generation, now()
        )
        return WithdrawOutcome(status=refused, refused=True)
    except EngineSettingsError as error:
        if "does not exist" in str(error) and sync.name not in {
            c.name for c in ctx.candidates(ref[0])
        }:
            # The engine's object is gone: nothing of the operator's can reach it any more.
            return WithdrawOutcome(decide.withdrawn_status(undeployed, generation, now()))
        ctx.forget_client((ref[0], sync.name))
        return WithdrawOutcome(retry=str(error))
    except (EngineUnavailable, ApiError) as error:
        return WithdrawOutcome(retry=str(error))
    return WithdrawOutcome(decide.withdrawn_status(undeployed, generation, now()))


def _engine_said(error: EngineError) -> str:
    # The gateway's message starts with the call; the engine's own words follow its status.
    return error.message.split("): ", 1)[-1] if "): " in error.message else error.message
