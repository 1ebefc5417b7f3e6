"""kopf handlers of DeploymentUnit: level-based; every event leads to one (often empty) pass."""

from datetime import UTC, datetime
from typing import Any

import kopf

from deployunits import constants
from deployunits.handlers import context
from deployunits.operations import redeploys, units
from deployunits.operations.versions import VersionSlot
from deployunits.reconcile.deploymentunit import PreviousDeployment
from deployunits.reconcile.redeploy import REQUEST_LABEL

_RESOURCE = (constants.GROUP, constants.VERSION, constants.DEPLOYMENT_UNIT_PLURAL)


@kopf.index(*_RESOURCE)
async def unit_versions(
    namespace: str | None, spec: kopf.Spec, status: kopf.Status, **_: Any
) -> dict[VersionSlot, int]:
    """(namespace, tenant, kind, key) → version of every definition a unit holds."""
    tenant = str(spec.get("tenantId") or "")
    return {
        (str(namespace), tenant, str(d["kind"]), str(d["key"])): int(d["version"])
        for d in status.get("definitions") or []
    }


@kopf.index(*_RESOURCE)
async def unit_history(
    namespace: str | None, spec: kopf.Spec, status: kopf.Status, **_: Any
) -> dict[units.HistoryKey, PreviousDeployment]:
    """Deployed units by (namespace, name, source, tenant), for duplicate filtering."""
    if status.get("status") != "DEPLOYED" or status.get("duplicateOf"):
        return {}
    key = (
        str(namespace),
        str(spec.get("name") or ""),
        str(spec.get("source") or units.DEFAULT_SOURCE),
        str(spec.get("tenantId") or ""),
    )
    deployed_at = status.get("deploymentTime")
    time = (
        datetime.fromisoformat(str(deployed_at).replace("Z", "+00:00"))
        if deployed_at
        else datetime.min.replace(tzinfo=UTC)
    )
    resources = {str(r["name"]): str(r["sha256"]) for r in status.get("resources") or []}
    return {key: PreviousDeployment(str(spec.get("deploymentId")), time, resources)}


@kopf.index(*_RESOURCE)
async def unit_states(
    namespace: str | None, name: str | None, meta: kopf.Meta, status: kopf.Status, **_: Any
) -> dict[tuple[str, ...], tuple[str, str]]:
    """("status", X) → units in status X, ("pending",) → units with an unfinished job."""
    state = str(status.get("status") or "NONE")
    ref = (str(namespace), str(name))
    keys: dict[tuple[str, ...], tuple[str, str]] = {("status", state): ref}
    if status.get("observedGeneration") != meta.get("generation") or state in (
        "ACCEPTED",
        "DEPLOYING",
        "UNDEPLOYING",
    ):
        keys[("pending",)] = ref
    return keys


@kopf.index(*_RESOURCE)
async def unit_by_deployment_id(
    namespace: str | None, name: str | None, spec: kopf.Spec, **_: Any
) -> dict[tuple[str, str], str]:
    """(namespace, deploymentId) → unit name (what Redeploys look their source up by)."""
    return {(str(namespace), str(spec.get("deploymentId"))): str(name)}


@kopf.index(*_RESOURCE)
async def unit_config_maps(
    namespace: str | None, name: str | None, spec: kopf.Spec, **_: Any
) -> dict[tuple[str, str], str]:
    """(namespace, ConfigMap name) → name of each unit that takes content from it."""
    sources = (spec.get("resources") or {}).get("configMaps") or []
    return {(str(namespace), str(source["name"])): str(name) for source in sources}


@kopf.on.event("", "v1", "configmaps", labels={constants.MANAGED_BY_LABEL: kopf.ABSENT})
async def on_config_map_event(
    type: str,
    body: kopf.Body,
    namespace: str | None,
    name: str | None,
    memo: kopf.Memo,
    **kwargs: Any,
) -> None:
    """A source ConfigMap changed: record on its units whether their snapshot still matches."""
    users: kopf.Index[tuple[str, str], str] = kwargs["unit_config_maps"]
    unit_names = set(users.get((str(namespace), str(name))) or ())
    if not unit_names:
        return
    ctx = context.of(memo).units
    raw = _plain(body)
    if type == "DELETED":
        # A deleted source is a drift of everything the unit took from it.
        raw = {"metadata": raw["metadata"]}
    for unit_name in sorted(unit_names):
        await units.check_drift(ctx, str(namespace), unit_name, raw)


@kopf.on.event(*_RESOURCE)
async def on_unit_event(
    type: str,
    body: kopf.Body,
    memo: kopf.Memo,
    **kwargs: Any,
) -> None:
    """Bring the unit to its desired state; nothing happens when it is there already."""
    ctx = context.of(memo).units
    # kopf passes each index under its function's name.
    versions: kopf.Index[VersionSlot, int] = kwargs["unit_versions"]
    history: kopf.Index[units.HistoryKey, PreviousDeployment] = kwargs["unit_history"]
    ctx.bind_indexes(versions, history)
    ctx.bind_states(kwargs["unit_states"])
    raw = _plain(body)
    if type == "DELETED":
        units.forget(ctx, raw)
    else:
        await units.reconcile(ctx, raw)
    request = (raw["metadata"].get("labels") or {}).get(REQUEST_LABEL)
    if request:
        # A unit created by a Redeploy: its progress is the request's progress.
        operator = context.of(memo)
        operator.redeploys.bind_index(kwargs["unit_by_deployment_id"])
        await redeploys.reconcile_ref(operator.redeploys, (raw["metadata"]["namespace"], request))


def _plain(body: kopf.Body) -> dict[str, Any]:
    # kopf hands out read-only views whose items are the raw values; the pass never mutates them.
    return {key: body[key] for key in body}
