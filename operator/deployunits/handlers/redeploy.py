"""kopf handlers of Redeploy: level-based, one pass per event."""

from typing import Any

import kopf

from deployunits import constants
from deployunits.handlers import context, deploymentunit
from deployunits.operations import redeploys

_RESOURCE = (constants.GROUP, constants.VERSION, constants.REDEPLOY_PLURAL)


@kopf.on.event(*_RESOURCE)
async def on_redeploy_event(type: str, body: kopf.Body, memo: kopf.Memo, **kwargs: Any) -> None:
    """Create the new deployment once, report its outcome, and expire the request."""
    ctx = context.of(memo).redeploys
    ctx.bind_index(deploymentunit.unit_ids(kwargs))
    raw = {key: body[key] for key in body}
    if type == "DELETED":
        redeploys.forget(ctx, raw)
        return
    await redeploys.reconcile(ctx, raw)
