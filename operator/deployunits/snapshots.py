"""Immutable, content-addressed snapshot ConfigMaps: one per distinct resource content."""

import base64
import hashlib
from typing import Any

from deployunits import constants

#: The key of the single binaryData entry of a snapshot ConfigMap.
CONTENT_KEY = "content"
_NAME_PREFIX = "bpm-snapshot-"


def sha256_of(content: bytes) -> str:
    """The hex sha256 that names a snapshot."""
    return hashlib.sha256(content).hexdigest()


#: Owners per snapshot ConfigMap: content of up to 1 MiB plus this many ownerReferences stays
#: well under etcd's 1.5 MiB object limit; more units sharing one content use further shards.
MAX_OWNERS = 500


def snapshot_name(sha256: str, shard: int = 0) -> str:
    """The ConfigMap name of (a shard of) the snapshot holding content with this sha256."""
    return f"{_NAME_PREFIX}{sha256}" + (f"-{shard}" if shard else "")


def owner_reference(unit: dict[str, Any]) -> dict[str, Any]:
    """An ownerReference to a DeploymentUnit (not a controller: many units share a snapshot)."""
    meta = unit["metadata"]
    return {
        "apiVersion": constants.API_VERSION,
        "kind": constants.DEPLOYMENT_UNIT_KIND,
        "name": meta["name"],
        "uid": meta["uid"],
        "blockOwnerDeletion": False,
    }


def snapshot_body(
    sha256: str, content: bytes, owners: list[dict[str, Any]] | None = None, shard: int = 0
) -> dict[str, Any]:
    """The immutable ConfigMap that stores one content, addressed by its sha256."""
    if sha256_of(content) != sha256:
        raise ValueError("content does not match its sha256")
    metadata: dict[str, Any] = {
        "name": snapshot_name(sha256, shard),
        "labels": {
            constants.MANAGED_BY_LABEL: constants.MANAGED_BY,
            # Label values hold at most 63 characters; the name carries the full hash.
            constants.SNAPSHOT_LABEL: sha256[:63],
        },
    }
    if owners:
        metadata["ownerReferences"] = owners
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata,
        "immutable": True,
        "binaryData": {CONTENT_KEY: base64.b64encode(content).decode()},
    }


def content_of(config_map: dict[str, Any], sha256: str) -> bytes:
    """The content of a snapshot ConfigMap, checked against its sha256."""
    encoded = (config_map.get("binaryData") or {}).get(CONTENT_KEY)
    if encoded is None:
        raise ValueError(f"snapshot {config_map['metadata']['name']} has no content")
    content = base64.b64decode(encoded)
    if sha256_of(content) != sha256:
        raise ValueError(f"snapshot {config_map['metadata']['name']} does not match its sha256")
    return content
