"""kopf handlers of DeploymentUnit: fetch, decide (pure), write the status once per pass."""

from typing import Any

import kopf

from deployunits import constants, sources
from deployunits.handlers import context
from deployunits.models.conditions import now
from deployunits.models.deploymentunit import DeploymentUnitSpec, DeploymentUnitStatus
from deployunits.reconcile import deploymentunit as decide

_RESOURCE = (constants.GROUP, constants.VERSION, constants.DEPLOYMENT_UNIT_PLURAL)


@kopf.on.resume(*_RESOURCE, id="reconcile")
@kopf.on.create(*_RESOURCE, id="reconcile")
@kopf.on.update(*_RESOURCE, id="reconcile", field="spec")
async def reconcile(
    spec: kopf.Spec,
    status: kopf.Status,
    meta: kopf.Meta,
    namespace: str | None,
    patch: kopf.Patch,
    memo: kopf.Memo,
    **_: Any,
) -> None:
    """Bring the unit to its desired state and record what happened in its status."""
    ctx = context.of(memo)
    unit_spec = DeploymentUnitSpec.model_validate(dict(spec))
    current = DeploymentUnitStatus.model_validate(dict(status)) if status else None
    assert namespace is not None, "DeploymentUnit is a namespaced kind"
    content = await sources.collect(ctx.kube, namespace, unit_spec)
    observation = decide.Observation(
        uid=str(meta["uid"]),
        generation=int(meta.get("generation") or 0),
        now=now(),
        content=content,
    )
    new_status = decide.next_status(unit_spec, current, observation)
    patch.status.update(new_status.to_wire())
    if isinstance(content, decide.ContentProblem) and content.temporary:
        # The status above is written all the same; kopf retries the handler later.
        raise kopf.TemporaryError(content.message, delay=10)
