"""kopf handlers of DeploymentUnit: level-based; every event leads to one (often empty) pass."""

from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any, Generic, TypeVar

import kopf

from deployunits import constants
from deployunits.handlers import context
from deployunits.operations import drift, history, redeploys, units
from deployunits.operations.versions import VersionSlot
from deployunits.reconcile.deploymentunit import (
    PreviousDeployment,
    counts_as_previous,
    previous_deployment,
)
from deployunits.reconcile.engine import UnitEntry

_RESOURCE = (constants.GROUP, constants.VERSION, constants.DEPLOYMENT_UNIT_PLURAL)

K = TypeVar("K", bound=tuple[Any, ...])
V = TypeVar("V")


@kopf.index(*_RESOURCE)
async def unit_index(
    namespace: str | None,
    name: str | None,
    meta: kopf.Meta,
    spec: kopf.Spec,
    status: kopf.Status,
    **_: Any,
) -> dict[tuple[Any, ...], Any]:
    """Every way units are looked up, in one index whose keys start with the part's name.

    One index rather than one per part: kopf's cost is per index and event, and with five it
    was a tenth of the operator's CPU in a burst of creations.
    """
    ns, unit = str(namespace), str(name)
    parts: dict[str, Mapping[tuple[Any, ...], Any]] = {
        "versions": unit_versions(ns, spec, status),
        "history": unit_history(ns, spec, status),
        "states": unit_states(ns, unit, meta, status),
        "deployment-ids": unit_by_deployment_id(ns, unit, spec),
        "config-maps": unit_config_maps(ns, unit, spec),
        "engines": unit_engines(ns, unit, meta, spec, status),
    }
    return {
        (part, *key): value for part, entries in parts.items() for key, value in entries.items()
    }


class IndexPart(Mapping[K, Iterable[V]], Generic[K, V]):
    """One part of `unit_index`, keyed as the part's function keys it."""

    def __init__(self, index: Mapping[tuple[Any, ...], Iterable[Any]], part: str) -> None:
        self._index = index
        self._part = part

    def __getitem__(self, key: K) -> Iterable[V]:
        found: Iterable[V] = self._index[(self._part, *key)]
        return found

    def __iter__(self) -> Iterator[K]:
        # Not on any hot path (the lookups are by key): a scan of the whole index.
        for key in self._index:
            if key[0] == self._part:
                yield key[1:]  # type: ignore[misc]

    def __len__(self) -> int:
        return sum(1 for _ in self)


def unit_versions(namespace: str, spec: kopf.Spec, status: kopf.Status) -> dict[VersionSlot, int]:
    """(namespace, tenant, kind, key) → version of every definition a unit holds."""
    tenant = str(spec.get("tenantId") or "")
    return {
        (str(namespace), tenant, str(d["kind"]), str(d["key"])): int(d["version"])
        for d in status.get("definitions") or []
    }


def unit_history(
    namespace: str, spec: kopf.Spec, status: kopf.Status
) -> dict[history.HistoryKey, PreviousDeployment]:
    """Deployed units by (namespace, name, source, tenant), for duplicate filtering."""
    if not counts_as_previous(status.get("status"), status.get("duplicateOf")):
        return {}
    key = (
        str(namespace),
        str(spec.get("name") or ""),
        str(spec.get("source") or history.DEFAULT_SOURCE),
        str(spec.get("tenantId") or ""),
    )
    deployed_at = status.get("deploymentTime")
    previous = previous_deployment(
        str(spec.get("deploymentId")),
        datetime.fromisoformat(str(deployed_at).replace("Z", "+00:00")) if deployed_at else None,
        ((str(r["name"]), str(r["sha256"])) for r in status.get("resources") or []),
    )
    return {key: previous}


def unit_states(
    namespace: str, name: str, meta: kopf.Meta, status: kopf.Status
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


def unit_by_deployment_id(namespace: str, name: str, spec: kopf.Spec) -> dict[tuple[str, str], str]:
    """(namespace, deploymentId) → unit name (what Redeploys look their source up by)."""
    return {(str(namespace), str(spec.get("deploymentId"))): str(name)}


def unit_engines(
    namespace: str, name: str, meta: kopf.Meta, spec: kopf.Spec, status: kopf.Status
) -> dict[tuple[str], UnitEntry]:
    """(namespace,) → each unit with its engine as named and as recorded (engine resyncs)."""
    engine = status.get("engine") or {}
    return {
        (str(namespace),): UnitEntry(
            name=str(name),
            engine_ref=(spec.get("engineRef") or {}).get("name"),
            engine=engine.get("name"),
            deployment_id=engine.get("deploymentId"),
            status=status.get("status"),
            deleting=bool(meta.get("deletionTimestamp")),
            adopted_from=(meta.get("annotations") or {}).get(constants.ADOPTED_FROM_ANNOTATION),
        )
    }


def unit_config_maps(namespace: str, name: str, spec: kopf.Spec) -> dict[tuple[str, str], str]:
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
    users: IndexPart[tuple[str, str], str] = IndexPart(kwargs["unit_index"], "config-maps")
    unit_names = set(users.get((str(namespace), str(name))) or ())
    if not unit_names:
        return
    ctx = context.of(memo).units
    raw = _plain(body)
    if type == "DELETED":
        # A deleted source is a drift of everything the unit took from it.
        raw = {"metadata": raw["metadata"]}
    for unit_name in sorted(unit_names):
        await drift.check_drift(ctx, str(namespace), unit_name, raw)


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
    index = kwargs["unit_index"]
    versions: IndexPart[VersionSlot, int] = IndexPart(index, "versions")
    previous: IndexPart[history.HistoryKey, PreviousDeployment] = IndexPart(index, "history")
    ctx.bind_indexes(versions, previous)
    ctx.bind_states(IndexPart(index, "states"))
    if ctx.engines is not None:
        ctx.engines.bind_indexes(kwargs["engine_index"], IndexPart(index, "engines"))
    raw = _plain(body)
    if type == "DELETED":
        units.forget(ctx, raw)
        recorded = ((raw.get("status") or {}).get("engine") or {}).get("name")
        if ctx.engines is not None and recorded:
            # Its engine's deletion may have waited for it.
            ctx.engines.resync_soon((raw["metadata"]["namespace"], str(recorded)))
    else:
        await units.reconcile(ctx, raw)
    request = (raw["metadata"].get("labels") or {}).get(constants.REDEPLOY_REQUEST_LABEL)
    if request:
        # A unit created by a Redeploy: its progress is the request's progress.
        operator = context.of(memo)
        operator.redeploys.bind_index(unit_ids(kwargs))
        await redeploys.reconcile_ref(operator.redeploys, (raw["metadata"]["namespace"], request))


def unit_ids(kwargs: Mapping[str, Any]) -> IndexPart[tuple[str, str], str]:
    """Unit names by (namespace, deploymentId), from a handler's kwargs."""
    return IndexPart(kwargs["unit_index"], "deployment-ids")


def _plain(body: kopf.Body) -> dict[str, Any]:
    # kopf hands out read-only views whose items are the raw values; the pass never mutates them.
    return {key: body[key] for key in body}
