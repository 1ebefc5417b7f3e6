"""Source drift: whether a source ConfigMap still holds what a deployed unit's snapshot took."""

from typing import Any

from deployunits.content.digest import sha256_hex
from deployunits.models.conditions import now
from deployunits.models.deploymentunit import (
    DeploymentStatus,
    DeploymentUnitSpec,
    DeploymentUnitStatus,
)
from deployunits.operations import sources, units
from deployunits.reconcile import deploymentunit as decide


async def check_drift(
    ctx: units.UnitsContext, namespace: str, unit_name: str, config_map: dict[str, Any]
) -> None:
    """Compare a source ConfigMap with the unit's snapshot and record SourceDrifted."""
    # Under the unit's pass lock: the drift is written on the status a pass may be writing.
    async with ctx.runner.lock((namespace, unit_name)):
        body = await ctx.kube.units.find_body(namespace, unit_name)
        if body is None:
            return
        spec = DeploymentUnitSpec.model_validate(body.get("spec") or {})
        raw_status = body.get("status") or {}
        if not raw_status or body["metadata"].get("deletionTimestamp"):
            return
        status = DeploymentUnitStatus.model_validate(raw_status)
        if status.status is not DeploymentStatus.DEPLOYED:
            return
        stored = {r.name: r.sha256 for r in status.resources}
        changed: list[str] = []
        name = config_map["metadata"]["name"]
        for source in spec.resources.config_maps or []:
            if source.name != name:
                continue
            current = sources.select_entries(source, config_map)
            if isinstance(current, decide.ContentProblem):
                changed += [n for n in stored if source.keys is None or n in source.keys]
                continue
            now_by_name = {c.name: sha256_hex(c.content) for c in current}
            wanted = source.keys if source.keys is not None else list(now_by_name)
            taken = [n for n in stored if source.keys is None or n in source.keys]
            changed += [n for n in set(wanted) | set(taken) if now_by_name.get(n) != stored.get(n)]
        new_status = decide.drift_status(
            status, sorted(set(changed)), int(body["metadata"].get("generation") or 0), now()
        )
        if new_status is not None:
            await units.write_status(ctx, body, status, new_status)
