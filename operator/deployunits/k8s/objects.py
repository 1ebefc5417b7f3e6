"""API calls on the project's objects: status writes, finalizers, snapshots, Events."""

import logging
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
) -> tuple[str, str]:
    """Store content as its immutable snapshot owned by the unit; returns (ConfigMap, key).

    The first shard that is new, already owned by the unit, or has room for another owner is
    used (see snapshots.MAX_OWNERS).
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
        if await add_snapshot_owner(
            kube, namespace, sha256, owner, shard=shard, max_owners=max_owners
        ):
            return snapshots.snapshot_name(sha256, shard), key
        shard += 1


async def add_snapshot_owner(
    kube: KubeClient,
    namespace: str,
    sha256: str,
    owner: dict[str, Any],
    *,
    shard: int = 0,
    max_owners: int = snapshots.MAX_OWNERS,
) -> bool:
    """Make the unit an owner of an existing snapshot shard; False if that shard is full.

    Each append is guarded by the resourceVersion it was decided on, so concurrent units
    neither lose an owner nor push a shard past its bound; a conflict is decided again.
    """
    path = core_path("configmaps", namespace, snapshots.snapshot_name(sha256, shard))
    reference = snapshots.owner_reference(owner)
    while True:
        existing = await kube.get(path)
        owners = existing["metadata"].get("ownerReferences") or []
        if any(o.get("uid") == reference["uid"] for o in owners):
            return True
        if len(owners) >= max_owners:
            return False
        operation: list[dict[str, Any]] = [
            {
                "op": "test",
                "path": "/metadata/resourceVersion",
                "value": existing["metadata"]["resourceVersion"],
            },
            {"op": "add", "path": "/metadata/ownerReferences", "value": [*owners, reference]},
        ]
        try:
            await kube.patch(path, operation, "json")
            return True
        except ApiError as error:
            if error.status not in (409, 422):
                raise


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
