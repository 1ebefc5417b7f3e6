"""Immutable, content-addressed snapshot ConfigMaps: one per distinct resource content."""

import base64
import binascii
import gzip
import hashlib
import zlib
from typing import Any

from deployunits import constants

#: The key of the single binaryData entry of a snapshot ConfigMap: the content, gzipped.
CONTENT_KEY = "content.gz"
#: Where snapshots written before compression hold their content, as is.
PLAIN_CONTENT_KEY = "content"
#: A snapshot never holds more than this once unpacked (a gzip bomb in a ConfigMap named like a
#: snapshot is refused instead of filling memory); far above any resource a unit may hold.
MAX_CONTENT_BYTES = 64 * 1024 * 1024
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
        "binaryData": dict([encode(content)]),
    }


def encode(content: bytes) -> tuple[str, str]:
    """(binaryData key, base64 value) of content as stored: gzipped unless that does not shrink
    it (an image, say), which keeps a resource of up to a ConfigMap's 1 MiB storable."""
    packed = pack(content)
    if len(packed) < len(content):
        return CONTENT_KEY, base64.b64encode(packed).decode()
    return PLAIN_CONTENT_KEY, base64.b64encode(content).decode()


def pack(content: bytes) -> bytes:
    """Content as stored: gzip (BPMN and DMN shrink three to ten times: less for etcd to hold,
    and less for the API server to decode, validate and encode on every write and read)."""
    return gzip.compress(content, compresslevel=6, mtime=0)


def unpack(packed: bytes, *, max_bytes: int = MAX_CONTENT_BYTES) -> bytes:
    """The content of a gzip member, refused when it unpacks to more than max_bytes."""
    inflater = zlib.decompressobj(wbits=31)
    try:
        content = inflater.decompress(packed, max_bytes + 1)
    except zlib.error as error:
        raise ValueError(f"not gzip: {error}") from None
    if len(content) > max_bytes:
        raise ValueError(f"unpacks to more than {max_bytes} bytes")
    if not inflater.eof or inflater.unused_data:
        raise ValueError("not exactly one complete gzip member")
    return content


def content_of(config_map: dict[str, Any], sha256: str) -> bytes:
    """The content of a snapshot ConfigMap (gzipped, or plain from before), checked by sha256."""
    name = config_map["metadata"]["name"]
    binary = config_map.get("binaryData") or {}
    packed, plain = binary.get(CONTENT_KEY), binary.get(PLAIN_CONTENT_KEY)
    try:
        if packed is not None:
            content = unpack(base64.b64decode(packed, validate=True))
        elif plain is not None:
            content = base64.b64decode(plain, validate=True)
        else:
            raise ValueError("no content")
    except (binascii.Error, ValueError) as error:
        raise ValueError(f"snapshot {name} is unreadable: {error}") from None
    if sha256_of(content) != sha256:
        raise ValueError(f"snapshot {name} does not match its sha256")
    return content
