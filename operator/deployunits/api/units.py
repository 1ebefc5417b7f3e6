"""Dialect-neutral writes of the shim: snapshots, units and Redeploys, each awaited in the cache."""

import asyncio
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from deployunits import constants
from deployunits.api.cache import CachedRedeploy, CachedUnit, RedeployCache, UnitCache
from deployunits.content.digest import sha256_hex
from deployunits.k8s.errors import ApiError
from deployunits.k8s.gateway import ApiServer
from deployunits.models.conditions import ConditionType, find
from deployunits.models.deploymentunit import DeploymentUnit, DeploymentUnitSpec, SnapshotRef
from deployunits.models.redeploy import Redeploy, RedeploySpec

logger = logging.getLogger(__name__)

_PARALLEL_SNAPSHOT_WRITES = 16


class WriteError(Exception):
    """A write the shim could not complete."""


class NamespaceMissing(WriteError):
    """The addressed namespace (engine) does not exist."""


class Rejected(WriteError):
    """The API server refused the object (schema or CEL validation); the message says why."""


class WriteTimedOut(WriteError):
    """The operator did not answer in time; nothing the shim created was left behind."""


@dataclass(frozen=True)
class StoredSnapshots:
    """The snapshot references of an upload, and which snapshots this upload created."""

    refs: list[SnapshotRef]
    created: frozenset[str]


def _refusal(namespace: str, error: ApiError) -> WriteError | None:
    """What a refused create means to the caller (None: not a refusal of this write)."""
    if error.not_found:
        return NamespaceMissing(namespace)
    if error.status in (400, 422):
        return _rejection(error)
    return None


_Cached = TypeVar("_Cached", CachedUnit, CachedRedeploy)


def _once_created(uid: str, done: Callable[[_Cached], bool]) -> Callable[[_Cached | None], bool]:
    """A wait condition for the object created with `uid`: `done`, or gone once it was seen
    (the cache may not have the new object yet, so a miss before that is no deletion)."""
    seen = False

    def settled(cached: _Cached | None) -> bool:
        nonlocal seen
        if cached is None or cached.uid != uid:
            return seen
        seen = True
        return done(cached)

    return settled


def _rejection(error: ApiError) -> Rejected:
    causes = ((error.body.get("details") or {}).get("causes")) or []
    text = "; ".join(
        f"{c.get('field', '')}: {c.get('message', '')}".strip(": ") for c in causes if c
    )
    return Rejected(text or error.message)


class UnitWriter:
    """Creates and deletes units, Redeploys and snapshots, and waits for their outcome."""

    def __init__(
        self,
        kube: ApiServer,
        units: UnitCache,
        redeploys: RedeployCache,
        *,
        timeout: float,
        redeploy_ttl_seconds: int,
    ) -> None:
        self._kube = kube
        self.units = units
        self.redeploys = redeploys
        self.timeout = timeout
        self._ttl = redeploy_ttl_seconds

    async def store_snapshots(
        self, namespace: str, resources: Sequence[tuple[str, bytes]]
    ) -> StoredSnapshots:
        """One immutable snapshot ConfigMap per distinct content (existing ones are reused)."""
        refs = []
        contents: dict[str, bytes] = {}
        for name, content in resources:
            sha = sha256_hex(content)
            refs.append(SnapshotRef.unchecked(name=name, sha256=sha))
            contents.setdefault(sha, content)
        gate = asyncio.Semaphore(_PARALLEL_SNAPSHOT_WRITES)

        async def write(sha: str, content: bytes) -> str | None:
            async with gate:
                try:
                    if not await self._kube.snapshots.create(namespace, sha, content):
                        return None
                except ApiError as error:
                    refusal = _refusal(namespace, error)
                    if refusal is not None:
                        raise refusal from error
                    raise
                return sha

        results = await asyncio.gather(
            *(write(s, c) for s, c in contents.items()), return_exceptions=True
        )
        created = frozenset(r for r in results if isinstance(r, str))
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            # One refused content refuses the upload: the snapshots it did write must go too.
            await self._drop_snapshots(namespace, "", created)
            raise failures[0]
        return StoredSnapshots(refs, created)

    async def create_unit(
        self,
        namespace: str,
        spec: DeploymentUnitSpec,
        *,
        annotations: dict[str, str] | None = None,
        snapshots_created: frozenset[str] = frozenset(),
    ) -> CachedUnit:
        """Create a unit and return it once the operator has deployed it or failed to."""
        name = f"d-{uuid.uuid4().hex}"
        try:
            metadata: dict[str, object] = {
                "name": name,
                "labels": {constants.CREATED_BY_LABEL: constants.CREATED_BY},
            }
            if annotations:
                metadata["annotations"] = annotations
            created = await self._kube.units.create(
                namespace, DeploymentUnit(metadata=metadata, spec=spec)
            )
        except ApiError as error:
            refusal = _refusal(namespace, error)
            if refusal is not None:
                # Refused for sure, so no unit owns the upload's snapshots: they go too. (After
                # an ambiguous failure the unit may exist and need them.)
                await self._drop_snapshots(namespace, "", snapshots_created)
                raise refusal from error
            raise
        uid = created.uid

        def outcome(unit: CachedUnit) -> bool:
            return unit.deleting or unit.reconciled

        try:
            unit = await self.units.wait_for(
                namespace, name, _once_created(uid, outcome), self.timeout
            )
        except TimeoutError:
            await self.delete_unit(namespace, name, uid, wait=False)
            await self._drop_snapshots(namespace, uid, snapshots_created)
            raise WriteTimedOut(
                f"the operator did not deploy '{spec.deployment_id}' within "
                f"{self.timeout:g}s; nothing was deployed"
            ) from None
        if unit is None or unit.uid != uid or unit.deleting:
            raise WriteError(f"deployment unit {namespace}/{name} was deleted while deploying")
        return unit

    async def delete_unit(self, namespace: str, name: str, uid: str, *, wait: bool = True) -> None:
        """Delete a unit (the operator's finalizer undeploys it); wait until reads miss it."""
        try:
            await self._kube.units.delete(namespace, name, preconditions={"uid": uid})
        except ApiError as error:
            if not (error.not_found or error.conflict):
                raise
        if not wait:
            return

        def gone(unit: CachedUnit | None) -> bool:
            return unit is None or unit.uid != uid or unit.deleting

        await self.units.wait_for(namespace, name, gone, self.timeout)

    async def discard(self, unit: CachedUnit, created: frozenset[str]) -> None:
        """Undo a create: the unit, and the snapshots this upload created that nobody else owns."""
        await self.delete_unit(unit.namespace, unit.name, unit.uid, wait=False)
        await self._drop_snapshots(unit.namespace, unit.uid, created)

    async def _drop_snapshots(self, namespace: str, uid: str, created: frozenset[str]) -> None:
        """Delete snapshots this upload created unless another unit owns or references them."""
        for sha in created:

            def in_use(sha: str = sha) -> bool:
                return any(
                    u.uid != uid and not u.deleting for u in self.units.units_with(namespace, sha)
                )

            await self._kube.snapshots.drop_unowned(namespace, sha, uid, in_use)

    async def redeploy(
        self,
        namespace: str,
        deployment_id: str,
        *,
        resource_ids: Sequence[str],
        resource_names: Sequence[str],
        source: str | None,
    ) -> CachedRedeploy:
        """Create a Redeploy and return it once it has Succeeded or Stalled."""
        spec = RedeploySpec.unchecked(
            deployment_id=deployment_id,
            resource_ids=list(resource_ids),
            resource_names=list(resource_names),
            ttl_seconds_after_finished=self._ttl,
            source=source,
        )
        name = f"r-{uuid.uuid4().hex}"
        labels = {constants.CREATED_BY_LABEL: constants.CREATED_BY}
        try:
            created = await self._kube.redeploys.create(
                namespace, Redeploy(metadata={"name": name, "labels": labels}, spec=spec)
            )
        except ApiError as error:
            refusal = _refusal(namespace, error)
            if refusal is not None:
                raise refusal from error
            raise
        uid = created.uid

        def outcome(request: CachedRedeploy) -> bool:
            conditions = request.status.conditions
            return any(
                (c := find(conditions, t)) is not None and c.status == "True"
                for t in (ConditionType.SUCCEEDED, ConditionType.STALLED)
            )

        try:
            result = await self.redeploys.wait_for(
                namespace, name, _once_created(uid, outcome), self.timeout
            )
        except TimeoutError:
            raise WriteTimedOut(
                f"the operator did not finish redeploy '{name}' of '{deployment_id}' within "
                f"{self.timeout:g}s; it may still complete"
            ) from None
        if result is None or result.uid != uid:
            raise WriteError(f"redeploy {namespace}/{name} was deleted before it finished")
        return result

    async def wait_deployed(
        self, namespace: str, deployment_id: str, unit_name: str | None
    ) -> CachedUnit:
        """The unit a Redeploy created, once the operator has reconciled it."""

        def settled(unit: CachedUnit | None) -> bool:
            return unit is not None and (unit.reconciled or unit.deleting)

        deadline = asyncio.get_running_loop().time() + self.timeout
        if unit_name is None:
            # Older operators may not name the unit: find it by its deployment id.
            while True:
                found = self.units.units_with_id(namespace, deployment_id)
                if found:
                    unit_name = found[0].name
                    break
                if asyncio.get_running_loop().time() > deadline:
                    raise WriteTimedOut(f"deployment '{deployment_id}' did not appear in time")
                await asyncio.sleep(0.02)
        remaining = max(deadline - asyncio.get_running_loop().time(), 0.1)
        try:
            unit = await self.units.wait_for(namespace, unit_name, settled, remaining)
        except TimeoutError:
            raise WriteTimedOut(
                f"the operator did not deploy '{deployment_id}' within {self.timeout:g}s"
            ) from None
        assert unit is not None
        return unit
