"""API calls on the project's objects: status writes, finalizers, snapshots, Events."""

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from deployunits import constants, snapshots
from deployunits.k8s.client import JSON, ApiError, KubeClient, core_path, custom_path

logger = logging.getLogger(__name__)


async def write_status(
    kube: KubeClient, plural: str, namespace: str, name: str, status: dict[str, Any]
) -> JSON:
    """Replace the status (one merge patch on the status subresource; lists are replaced).

    Returns the written object's metadata (its new resourceVersion), not the whole object.
    """
    return await kube.patch(
        custom_path(plural, namespace, name, "status"),
        {"status": status},
        "merge",
        metadata_only=True,
    )


async def set_finalizer(
    kube: KubeClient, plural: str, body: dict[str, Any], *, present: bool
) -> JSON | None:
    """Add or remove the project's finalizer, guarded by the object's resourceVersion."""
    meta = body["metadata"]
    finalizers = list(meta.get("finalizers") or [])
    if (constants.FINALIZER in finalizers) == present:
        return None
    changed = (
        [*finalizers, constants.FINALIZER]
        if present
        else [f for f in finalizers if f != constants.FINALIZER]
    )
    patch = {"metadata": {"finalizers": changed, "resourceVersion": meta["resourceVersion"]}}
    return await kube.patch(custom_path(plural, meta["namespace"], meta["name"]), patch, "merge")


async def ensure_snapshot(
    kube: KubeClient,
    namespace: str,
    sha256: str,
    content: bytes,
    owner: dict[str, Any],
    *,
    max_owners: int = snapshots.MAX_OWNERS,
    owners: "SnapshotOwners | None" = None,
) -> tuple[str, str]:
    """Store content as its immutable snapshot owned by the unit; returns (ConfigMap, key).

    The first shard that is new, already owned by the unit, or has room for another owner is
    used (see snapshots.MAX_OWNERS). With `owners`, units of this process that share a content
    join an existing shard together, in one write.
    """
    reference = snapshots.owner_reference(owner)
    shard = 0
    while True:
        body = snapshots.snapshot_body(sha256, content, owners=[reference], shard=shard)
        # An existing shard written before compression keeps its plain key; readers take either.
        (key,) = body["binaryData"]
        try:
            await kube.create(core_path("configmaps", namespace), body, metadata_only=True)
            return str(body["metadata"]["name"]), key
        except ApiError as error:
            if error.status != 409:
                raise
        if owners is not None:
            joined = await owners.add(namespace, sha256, reference, shard, max_owners)
        else:
            (joined,) = await add_snapshot_owners(
                kube, namespace, sha256, shard, [reference], max_owners
            )
        if joined is None:
            continue  # the shard went with its last owner since: create it again
        if joined:
            return snapshots.snapshot_name(sha256, shard), key
        shard += 1


async def add_snapshot_owners(
    kube: KubeClient,
    namespace: str,
    sha256: str,
    shard: int,
    references: list[dict[str, Any]],
    max_owners: int,
) -> list[bool | None]:
    """Add owners to an existing shard in one write: per reference, whether it is an owner now
    (False: the shard is full; None: the shard is gone).

    The append is guarded by the resourceVersion it was decided on, so concurrent writers
    neither lose an owner nor push a shard past its bound; a conflict is decided again.
    """
    path = core_path("configmaps", namespace, snapshots.snapshot_name(sha256, shard))
    while True:
        try:
            existing = await kube.get(path)
        except ApiError as error:
            if error.not_found:
                return [None] * len(references)
            raise
        owners = list(existing["metadata"].get("ownerReferences") or [])
        before = len(owners)
        present = {o.get("uid") for o in owners}
        joined: list[bool | None] = []
        for reference in references:
            if reference["uid"] not in present and len(owners) < max_owners:
                owners.append(reference)
                present.add(reference["uid"])
            joined.append(reference["uid"] in present)
        if len(owners) == before:
            return joined
        operation: list[dict[str, Any]] = [
            {
                "op": "test",
                "path": "/metadata/resourceVersion",
                "value": existing["metadata"]["resourceVersion"],
            },
            {"op": "add", "path": "/metadata/ownerReferences", "value": owners},
        ]
        try:
            await kube.patch(path, operation, "json", metadata_only=True)
            return joined
        except ApiError as error:
            if error.not_found:
                return [None] * len(references)
            if error.status not in (409, 422):
                raise


_ShardKey = tuple[str, str, int]  # (namespace, sha256, shard)


@dataclass
class _Joining:
    reference: dict[str, Any]
    max_owners: int
    joined: "asyncio.Future[bool | None]"


class SnapshotOwners:
    """Adds units as owners of existing snapshot shards, all that wait for one shard per write.

    Units that share a content (most kjars carry the same default kmodule.xml) all add
    themselves to one ConfigMap. One by one, each with a resourceVersion-tested patch, they
    conflicted with each other: 500 such units at once cost 17 patches each and nearly two
    minutes of the API server's CPU. Here a shard gets one write per round, for everyone who asked
    while the previous round was under way (a group commit).
    """

    def __init__(self, kube: KubeClient) -> None:
        self._kube = kube
        self._waiting: dict[_ShardKey, list[_Joining]] = {}
        self._writers: dict[_ShardKey, asyncio.Task[None]] = {}

    async def add(
        self,
        namespace: str,
        sha256: str,
        reference: dict[str, Any],
        shard: int,
        max_owners: int = snapshots.MAX_OWNERS,
    ) -> bool | None:
        """Whether the unit owns the shard now (False: full; None: gone, create it again)."""
        key = (namespace, sha256, shard)
        joining = _Joining(reference, max_owners, asyncio.get_running_loop().create_future())
        self._waiting.setdefault(key, []).append(joining)
        if key not in self._writers:
            self._writers[key] = asyncio.create_task(self._write_rounds(key))
        return await joining.joined

    async def _write_rounds(self, key: _ShardKey) -> None:
        namespace, sha256, shard = key
        try:
            while batch := self._waiting.pop(key, None):
                try:
                    joined = await add_snapshot_owners(
                        self._kube,
                        namespace,
                        sha256,
                        shard,
                        [j.reference for j in batch],
                        min(j.max_owners for j in batch),
                    )
                except Exception as error:  # each waiting pass retries on its own
                    for joining in batch:
                        if not joining.joined.done():
                            joining.joined.set_exception(error)
                    continue
                for joining, outcome in zip(batch, joined, strict=True):
                    if not joining.joined.done():
                        joining.joined.set_result(outcome)
        finally:
            del self._writers[key]


async def post_event(
    kube: KubeClient, body: dict[str, Any], type_: str, reason: str, message: str
) -> None:
    """A core/v1 Event on the object; a failure to post is logged, never fatal."""
    meta = body["metadata"]
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
        "involvedObject": {
            "apiVersion": body.get("apiVersion", constants.API_VERSION),
            "kind": body.get("kind", constants.DEPLOYMENT_UNIT_KIND),
            "name": meta["name"],
            "namespace": meta["namespace"],
            "uid": meta["uid"],
        },
        "reason": reason,
        "message": message,
        "type": type_,
        "source": {"component": "deployunits-operator"},
        "reportingComponent": "deployunits-operator",
        "reportingInstance": "deployunits-operator",
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }
    try:
        await kube.create_event(meta["namespace"], event)
    except ApiError as error:
        logger.warning("Could not post event %s on %s: %s", reason, meta["name"], error)
