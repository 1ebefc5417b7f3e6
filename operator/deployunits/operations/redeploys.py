"""One pass of a Redeploy: find the source, create the new unit exactly once, report, expire."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from deployunits.k8s.errors import JSON, ApiError
from deployunits.k8s.gateway import ApiServer
from deployunits.metrics import OperatorMetrics
from deployunits.models.conditions import ConditionType, now
from deployunits.models.deploymentunit import DeploymentStatus, DeploymentUnit, DeploymentUnitStatus
from deployunits.models.redeploy import RedeploySpec, RedeployStatus
from deployunits.operations.retries import ObjectRef
from deployunits.operations.runner import PassRunner, ref_of
from deployunits.reconcile import redeploy as decide

#: Units per page when a source is looked up in the API server (the index missed it).
LIST_PAGE_SIZE = 500


@dataclass
class RedeploysContext:
    """What Redeploy passes share: the client, retries, locks, and units by deployment id."""

    kube: ApiServer
    metrics: OperatorMetrics | None = None
    runner: PassRunner[JSON] = field(init=False)
    _units_by_id: Mapping[tuple[str, str], Iterable[str]] | None = None

    def __post_init__(self) -> None:
        self.runner = PassRunner(
            "Redeploy",
            find=lambda ref: self.kube.redeploys.find_body(*ref),
            # Every event of a request gets a pass: the pass itself finds out what is left.
            plan=lambda body: body,
            act=lambda body, _: _pass(self, body),
            metrics=self.metrics,
            label="redeploy ",
        )

    def bind_index(self, units_by_id: Mapping[tuple[str, str], Iterable[str]]) -> None:
        """kopf's index of unit names by (namespace, deploymentId)."""
        self._units_by_id = units_by_id

    def unit_name(self, namespace: str, deployment_id: str) -> str | None:
        names = sorted((self._units_by_id or {}).get((namespace, deployment_id)) or ())
        return names[0] if names else None


async def reconcile_ref(ctx: RedeploysContext, ref: ObjectRef) -> None:
    """Reconcile the current version of a request (retries, TTL expiry and unit news)."""
    await ctx.runner.reconcile_ref(ref)


async def reconcile(ctx: RedeploysContext, body: dict[str, Any]) -> None:
    """One serialized pass for the request."""
    await ctx.runner.reconcile(body)


def forget(ctx: RedeploysContext, body: dict[str, Any]) -> None:
    ctx.runner.forget(ref_of(body))


async def _get_unit(ctx: RedeploysContext, namespace: str, name: str) -> DeploymentUnit | None:
    return await ctx.kube.units.find(namespace, name)


async def _find_source(
    ctx: RedeploysContext, namespace: str, deployment_id: str
) -> DeploymentUnit | None:
    """The unit holding the deployment, looked up in the index, else in the API server.

    The index follows its own watch: a unit created just before the request may not be in it
    yet, and a miss there must not become a permanent NotFound.
    """
    name = ctx.unit_name(namespace, deployment_id)
    if name is not None:
        found = await _get_unit(ctx, namespace, name)
        if found is not None and found.spec.deployment_id == deployment_id:
            return found
    token = ""
    while True:
        params = {"limit": str(LIST_PAGE_SIZE), **({"continue": token} if token else {})}
        try:
            page = await ctx.kube.units.list_page(namespace, params)
        except ApiError as error:
            if error.status != 410:
                raise
            token = ""  # the continue token expired: list again from the start
            continue
        # Only the unit found is parsed: a page holds hundreds of whole units.
        for unit in page.get("items") or []:
            if (unit.get("spec") or {}).get("deploymentId") == deployment_id:
                return DeploymentUnit.model_validate(unit)
        token = str((page.get("metadata") or {}).get("continue") or "")
        if not token:
            return None


def _unit_status(unit: DeploymentUnit | None) -> DeploymentUnitStatus | None:
    status = unit.status if unit is not None else None
    # An empty status ({}) is none yet.
    return status if status is not None and status.model_fields_set else None


def _settled(unit: DeploymentUnit) -> bool:
    status = _unit_status(unit)
    return (
        status is not None
        and status.observed_generation == unit.metadata.get("generation")
        and status.status is not DeploymentStatus.DEPLOYING
    )


async def _pass(ctx: RedeploysContext, body: dict[str, Any]) -> float | None:
    """Returns seconds until the request should be looked at again, or None."""
    meta = body["metadata"]
    if meta.get("deletionTimestamp"):
        return None
    namespace, generation = meta["namespace"], int(meta.get("generation") or 0)
    spec = RedeploySpec.model_validate(body.get("spec") or {})
    raw = body.get("status") or {}
    status = RedeployStatus.model_validate(raw) if raw else None
    at = now()
    if decide.is_finished(status):
        remaining = decide.expires_in(spec, status, at)
        if remaining is None:
            return None
        if remaining > 0:
            return remaining
        # Only the request that expired: not one re-applied under its name since, nor one
        # whose spec changed (a longer TTL) after this pass read it.
        preconditions = {"uid": meta["uid"], "resourceVersion": meta["resourceVersion"]}
        try:
            await ctx.kube.redeploys.delete(namespace, meta["name"], preconditions=preconditions)
        except ApiError as error:
            if not error.not_found:
                raise
        return None

    unit_name = decide.new_unit_name(meta["uid"])
    unit = await _get_unit(ctx, namespace, unit_name)
    if unit is None:
        source = await _find_source(ctx, namespace, spec.deployment_id)
        if source is not None and not _settled(source):
            message = f"Deployment {spec.deployment_id} is still being deployed."
            await _progress(
                ctx, body, status, generation, at, decide.RedeployReason.WAITING_FOR_SOURCE, message
            )
            return 2.0
        source_status = _unit_status(source)
        failure = decide.source_failure(spec.deployment_id, source_status)
        if failure is not None:
            await _write(ctx, body, status, decide.failed_status(status, failure, generation, at))
            return None
        assert source is not None and source_status is not None
        chosen = decide.choose_resources(spec, source_status.resources)
        if isinstance(chosen, decide.Failure):
            await _write(ctx, body, status, decide.failed_status(status, chosen, generation, at))
            return None
        try:
            unit = await ctx.kube.units.create_whole(
                namespace, decide.new_unit(body, source.spec.to_wire(), chosen)
            )
        except ApiError as error:
            if error.status != 409:
                raise
            # Created by an earlier pass that did not get to write the status.
            unit = await _get_unit(ctx, namespace, unit_name)
            if unit is None:
                return 1.0

    unit_status = _unit_status(unit)
    new = decide.NewUnit(unit_name, unit.spec.deployment_id, unit.spec.name)
    if unit_status is not None and _settled(unit):
        if unit_status.status is DeploymentStatus.DEPLOYED:
            await _write(ctx, body, status, decide.succeeded_status(status, generation, at, new))
            # The status write comes back as an event; the finished branch handles the TTL.
            return None
        stalled = next((c for c in unit_status.conditions if c.type == ConditionType.STALLED), None)
        why = stalled.message if stalled is not None else str(unit_status.status)
        failure = decide.Failure(
            decide.RedeployReason.INVALID,
            f"Cannot redeploy deployment '{spec.deployment_id}': {why}",
        )
        await _write(ctx, body, status, decide.failed_status(status, failure, generation, at))
        return None
    if status is None or status.new_unit_name != unit_name:
        message = f"Deploying the new deployment {new.deployment_id}."
        await _progress(
            ctx, body, status, generation, at, decide.RedeployReason.IN_PROGRESS, message, new
        )
    # The unit's own events bring this request back; the delay is a safety net.
    return 30.0


async def _progress(
    ctx: RedeploysContext,
    body: dict[str, Any],
    status: RedeployStatus | None,
    generation: int,
    at: datetime,
    reason: decide.RedeployReason,
    message: str,
    new: decide.NewUnit | None = None,
) -> None:
    """Still working; `new` is the new unit once it exists."""
    progress = decide.progress_status(
        status, generation, at, new=new, reason=reason, message=message
    )
    await _write(ctx, body, status, progress)


async def _write(
    ctx: RedeploysContext,
    body: dict[str, Any],
    before: RedeployStatus | None,
    after: RedeployStatus,
) -> None:
    meta = body["metadata"]
    ctx.runner.remember(
        await ctx.kube.redeploys.write_status(meta["namespace"], meta["name"], after)
    )
    finished_before, finished_now = decide.is_finished(before), decide.is_finished(after)
    if finished_now and not finished_before:
        succeeded = any(
            c.type == ConditionType.SUCCEEDED and c.status == "True" for c in after.conditions
        )
        message = next(
            (
                c.message
                for c in after.conditions
                if c.type == (ConditionType.SUCCEEDED if succeeded else ConditionType.STALLED)
            ),
            "",
        )
        await ctx.kube.events.post(
            body,
            "Normal" if succeeded else "Warning",
            "Succeeded" if succeeded else "Stalled",
            message,
        )
