"""Which engine a unit is pushed to, by its spec, its record and its namespace."""

from deployunits.models.deploymentunit import (
    DeploymentUnitSpec,
    DeploymentUnitStatus,
)
from deployunits.operations.engines.context import EnginesContext
from deployunits.reconcile import engine as decide


def binding(
    ctx: EnginesContext | None,
    namespace: str,
    spec: DeploymentUnitSpec,
    status: DeploymentUnitStatus | None,
) -> decide.Binding:
    """The unit's engine by its spec, its record and its namespace's ProcessEngines."""
    if ctx is None:
        return decide.Binding(None)
    sync = status.engine if status is not None else None
    # Recorded: the engine holds the unit's deployment (a record of a refusal or of a wait
    # binds to nothing).
    recorded = sync.name if sync is not None and sync.deployment_id is not None else None
    engine_ref = spec.engine_ref.name if spec.engine_ref is not None else None
    return decide.bind(engine_ref, ctx.candidates(namespace), recorded)
