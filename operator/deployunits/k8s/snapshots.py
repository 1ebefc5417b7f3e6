"""Immutable, content-addressed snapshot ConfigMaps: their format, and the store that writes them.

Each distinct content is stored once, in a ConfigMap named by its sha256 and owned by every unit
that uses it; beyond MAX_OWNERS owners further shards hold the same bytes. A content too large
for one ConfigMap even gzipped is split: its snapshot holds an index of consecutive slices, each
stored in a part ConfigMap named by the slice's sha256 and owned by the index (so the garbage
collector removes the parts with the last index that names them).
"""

import asyncio
import base64
import binascii
import gzip
import json
import logging
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from deployunits import constants
from deployunits.content.digest import sha256_hex
from deployunits.k8s._objects import or_none
from deployunits.k8s._transport import KubeClient, core_path
from deployunits.k8s.errors import JSON, ApiError

logger = logging.getLogger(__name__)

#: The key of the single binaryData entry of a snapshot ConfigMap: the content, gzipped.
CONTENT_KEY = "content.gz"
#: Where snapshots written before compression hold their content, as is.
PLAIN_CONTENT_KEY = "content"
#: A snapshot never holds more than this once unpacked (a gzip bomb in a ConfigMap named like a
#: snapshot is refused instead of filling memory); far above any resource a unit may hold.
MAX_CONTENT_BYTES = 64 * 1024 * 1024
#: The key of a split snapshot's index: a JSON list of its slices' sha256 and size, in order.
PARTS_KEY = "parts.json"
#: Bytes one ConfigMap stores at most: the API server refuses more than 1 MiB of data per
#: ConfigMap, and the ownerReferences need room under etcd's 1.5 MiB object limit as well.
MAX_STORED_BYTES = 900 * 1024
_NAME_PREFIX = "bpm-snapshot-"
_PART_PREFIX = "bpm-snapshot-part-"
#: How full a split content's parts are meant to be: room for a stretch that compresses worse.
_SLICE_FILL = 0.9


#: Owners per snapshot ConfigMap: MAX_STORED_BYTES plus this many ownerReferences stays well
#: under etcd's 1.5 MiB object limit; more units sharing one content use further shards.
MAX_OWNERS = 500


def snapshot_name(sha256: str, shard: int = 0) -> str:
    """The ConfigMap name of (a shard of) the snapshot holding content with this sha256."""
    return f"{_NAME_PREFIX}{sha256}" + (f"-{shard}" if shard else "")


def part_name(sha256: str) -> str:
    """The ConfigMap name of the part holding the slice with this sha256 of a split content."""
    return f"{_PART_PREFIX}{sha256}"


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


def _index_reference(index: JSON) -> dict[str, Any]:
    """An ownerReference to a split snapshot's index ConfigMap, for its parts."""
    meta = index["metadata"]
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "name": meta["name"],
        "uid": meta["uid"],
        "blockOwnerDeletion": False,
    }


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A snapshot (or part) ConfigMap as read: its name, its binaryData as stored, and the
    version and owners it had then."""

    name: str
    binary_data: dict[str, str]
    resource_version: str = ""
    owner_references: tuple[dict[str, Any], ...] = ()

    @classmethod
    def of(cls, config_map: Mapping[str, Any]) -> "Snapshot":
        """The snapshot a ConfigMap holds, as the API server sends it."""
        meta = config_map.get("metadata") or {}
        return cls(
            str(meta.get("name") or ""),
            dict(config_map.get("binaryData") or {}),
            str(meta.get("resourceVersion") or ""),
            tuple(meta.get("ownerReferences") or ()),
        )


@dataclass(frozen=True, slots=True)
class Part:
    """One slice of a split content, as its index names it."""

    sha256: str
    size: int


def snapshot_body(
    sha256: str, content: bytes, owners: list[dict[str, Any]] | None = None, shard: int = 0
) -> dict[str, Any]:
    """The immutable ConfigMap that stores one content (or its index), addressed by its sha256."""
    if sha256_hex(content) != sha256:
        raise ValueError("content does not match its sha256")
    return _config_map(
        snapshot_name(sha256, shard),
        {constants.SNAPSHOT_LABEL: sha256[:63]},
        dict([encode(content)]),
        owners,
    )


def part_body(part: bytes, index: JSON) -> dict[str, Any]:
    """The immutable ConfigMap that stores one slice of a split content, owned by its index."""
    sha256 = sha256_hex(part)
    return _config_map(
        part_name(sha256),
        {constants.SNAPSHOT_PART_LABEL: sha256[:63]},
        dict([encode(part)]),
        [_index_reference(index)],
    )


def _config_map(
    name: str,
    labels: dict[str, str],
    binary_data: dict[str, str],
    owners: list[dict[str, Any]] | None,
) -> dict[str, Any]:
    # Label values hold at most 63 characters; the name carries the full hash.
    metadata: dict[str, Any] = {
        "name": name,
        "labels": {constants.MANAGED_BY_LABEL: constants.MANAGED_BY, **labels},
    }
    if owners:
        metadata["ownerReferences"] = owners
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata,
        "immutable": True,
        "binaryData": binary_data,
    }


def encode(content: bytes) -> tuple[str, str]:
    """(binaryData key, base64 value) of content as stored: gzipped unless that does not shrink
    it (an image, say); a content that does not fit one ConfigMap either way is stored as the
    index of its slices (see `split`)."""
    packed = pack(content)
    stored, key = (packed, CONTENT_KEY) if len(packed) < len(content) else (content, None)
    if len(stored) > MAX_STORED_BYTES:
        index = [{"sha256": sha256_hex(piece), "size": len(piece)} for piece in split(content)]
        return PARTS_KEY, base64.b64encode(json.dumps(index).encode()).decode()
    return key or PLAIN_CONTENT_KEY, base64.b64encode(stored).decode()


def split(content: bytes) -> list[bytes]:
    """Consecutive slices of content, each of which fits one ConfigMap as stored.

    Slices are sized by the content's compression ratio to fill a ConfigMap nearly, and cut
    smaller where a stretch compresses worse; the index records each slice's size, so a writer
    whose zlib packs differently still rebuilds the parts an existing index names.
    """
    ratio = max(len(content) / max(len(pack(content)), 1), 1.0)
    first = int(MAX_STORED_BYTES * ratio * _SLICE_FILL)
    pieces: list[bytes] = []
    offset = 0
    while offset < len(content):
        size = first
        while True:
            piece = content[offset : offset + size]
            if min(len(pack(piece)), len(piece)) <= MAX_STORED_BYTES:
                break
            size = size * 3 // 4
        pieces.append(piece)
        offset += len(piece)
    return pieces


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


def _snapshot(config_map: Snapshot | Mapping[str, Any]) -> Snapshot:
    return config_map if isinstance(config_map, Snapshot) else Snapshot.of(config_map)


def index_of(config_map: Snapshot | Mapping[str, Any]) -> list[Part] | None:
    """The parts a split snapshot names, in order; None for a snapshot that holds its content."""
    snapshot = _snapshot(config_map)
    value = snapshot.binary_data.get(PARTS_KEY)
    if value is None:
        return None
    name = snapshot.name
    try:
        listed = json.loads(base64.b64decode(value, validate=True))
        parts = [Part(str(p["sha256"]), int(p["size"])) for p in listed]
    except (binascii.Error, ValueError, TypeError, KeyError) as error:
        raise ValueError(f"snapshot {name} has an unreadable index: {error}") from None
    if sum(part.size for part in parts) > MAX_CONTENT_BYTES:
        raise ValueError(f"snapshot {name} names more than {MAX_CONTENT_BYTES} bytes")
    return parts


def content_of(config_map: Snapshot | Mapping[str, Any], sha256: str) -> bytes:
    """The content a snapshot ConfigMap holds itself (gzipped, or plain from before), checked by
    sha256; a split snapshot's content is read with `SnapshotStore.read`."""
    snapshot = _snapshot(config_map)
    name = snapshot.name
    binary = snapshot.binary_data
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
    if sha256_hex(content) != sha256:
        raise ValueError(f"snapshot {name} does not match its sha256")
    return content


async def _off_loop(size: int, build: Callable[..., JSON], *args: Any) -> JSON:
    """A ConfigMap body, built in a thread when its content is large: gzipping megabytes
    would stall every other pass of the event loop (zlib releases the GIL)."""
    if size > MAX_STORED_BYTES:
        return await asyncio.to_thread(build, *args)
    return build(*args)


class SnapshotStore:
    """Reads and writes snapshot ConfigMaps of any namespace."""

    def __init__(self, transport: KubeClient) -> None:
        self._kube = transport
        #: Units of this process that share a content join an existing shard together.
        self.owners = SnapshotOwners(self)

    async def get(self, namespace: str, name: str) -> Snapshot | None:
        """A snapshot ConfigMap by name, or None if it does not exist."""
        found = await or_none(self._kube.get(core_path("configmaps", namespace, name)))
        return None if found is None else Snapshot.of(found)

    async def find(self, namespace: str, sha256: str) -> Snapshot | None:
        """Any shard of the snapshot of this content (all hold the same bytes)."""
        found = await self.get(namespace, snapshot_name(sha256))
        if found is not None:
            return found
        # The first shard may be gone with its owners while a later one lives on.
        page = await self._kube.get(
            core_path("configmaps", namespace),
            params={"labelSelector": f"{constants.SNAPSHOT_LABEL}={sha256[:63]}", "limit": "1"},
        )
        items = page.get("items") or []
        return Snapshot.of(items[0]) if items else None

    async def claim(
        self, namespace: str, sha256: str, owner: dict[str, Any], max_owners: int = MAX_OWNERS
    ) -> Snapshot | None:
        """The first shard of this content, read by adding the unit to its owners: one request
        where a read and a tested append take two. None: no first shard, or one with no room.

        A strategic merge patch merges ownerReferences by uid, so it is idempotent and needs no
        resourceVersion; the API server answers with the shard as written, content included. A
        shard pushed past its bound by the claim gives the owner back (the caller then takes
        the general path to a further shard).
        """
        path = core_path("configmaps", namespace, snapshot_name(sha256))
        reference = owner_reference(owner)
        patch = {"metadata": {"ownerReferences": [reference]}}
        try:
            snapshot = Snapshot.of(await self._kube.patch(path, patch, "strategic"))
        except ApiError as error:
            if error.not_found:
                return None
            raise
        if len(snapshot.owner_references) <= max_owners:
            return snapshot
        await self._give_back(path, snapshot, reference["uid"])
        return None

    async def _give_back(self, path: str, snapshot: Snapshot, uid: str) -> None:
        """Remove one owner again (guarded by resourceVersion, so others' claims stay)."""

        def without(owners: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
            kept = [o for o in owners if o.get("uid") != uid]
            return kept if len(kept) != len(owners) else None

        known = (list(snapshot.owner_references), snapshot.resource_version)
        await self._rewrite_owners(path, without, known)

    async def content(self, namespace: str, name: str, sha256: str) -> bytes | None:
        """The content a snapshot ConfigMap holds, or None if it is gone or does not match."""
        snapshot = await self.get(namespace, name)
        if snapshot is None:
            return None
        try:
            # Whatever the status names as its key: a snapshot written before compression
            # holds the same content under the plain key.
            return await self.read(namespace, snapshot, sha256)
        except ValueError:
            return None

    async def read(self, namespace: str, snapshot: Snapshot, sha256: str) -> bytes:
        """The content of a snapshot ConfigMap, its parts joined when it is split; ValueError if
        it (or a part) is missing, unreadable or does not match its sha256."""
        parts = index_of(snapshot)
        if parts is None:
            return content_of(snapshot, sha256)
        pieces = []
        for part in parts:
            stored = await self.get(namespace, part_name(part.sha256))
            if stored is None:
                raise ValueError(f"snapshot {snapshot.name} misses its part {part.sha256}")
            pieces.append(content_of(stored, part.sha256))
        content = b"".join(pieces)
        if sha256_hex(content) != sha256:
            raise ValueError(f"snapshot {snapshot.name} does not match its sha256")
        return content

    async def create(self, namespace: str, sha256: str, content: bytes) -> bool:
        """Store content as an unowned snapshot; False if it exists already."""
        body = await _off_loop(len(content), snapshot_body, sha256, content)
        try:
            await self._kube.create(core_path("configmaps", namespace), body, metadata_only=True)
        except ApiError as error:
            if not error.conflict:
                raise
            created = False
        else:
            created = True
        if PARTS_KEY in body["binaryData"]:
            await self._ensure_parts(namespace, snapshot_name(sha256), content)
        return created

    async def _ensure_parts(self, namespace: str, index_name: str, content: bytes) -> None:
        """Every part the index names exists and is owned by it (after a writer stopped halfway,
        or for a further shard of the index, too)."""
        index = await self._kube.get(core_path("configmaps", namespace, index_name))
        parts = index_of(index) or []
        reference = _index_reference(index)
        offset = 0
        for part in parts:
            piece = content[offset : offset + part.size]
            offset += part.size
            if sha256_hex(piece) != part.sha256:
                raise ValueError(f"snapshot {index_name} names parts of another content")
            try:
                await self._kube.create(
                    core_path("configmaps", namespace),
                    await _off_loop(len(piece), part_body, piece, index),
                    metadata_only=True,
                )
            except ApiError as error:
                if not error.conflict:
                    raise
                path = core_path("configmaps", namespace, part_name(part.sha256))
                [owned] = await self._add_owners_at(path, [reference], max_owners=MAX_OWNERS)
                if owned is None:  # gone with its last index since: create it again
                    await self._kube.create(
                        core_path("configmaps", namespace),
                        await _off_loop(len(piece), part_body, piece, index),
                        metadata_only=True,
                    )

    async def ensure(
        self,
        namespace: str,
        sha256: str,
        content: bytes,
        owner: dict[str, Any],
        *,
        max_owners: int = MAX_OWNERS,
        grouped: bool = False,
        seen: Snapshot | None = None,
    ) -> tuple[str, str]:
        """Store content as its immutable snapshot owned by the unit; returns (ConfigMap, key).

        The first shard that is new, already owned by the unit, or has room for another owner is
        used (see MAX_OWNERS). With `grouped`, units of this process that share a content join
        an existing shard together, in one write. `seen`: a shard as the caller read it; when
        it is the first and the unit already owns it (SnapshotStore.claim), that is the answer.
        """
        reference = owner_reference(owner)
        if seen is not None and (owned := _owned_first_shard(seen, sha256, reference)):
            return owned
        shard = 0
        while True:
            body = await _off_loop(len(content), snapshot_body, sha256, content, [reference], shard)
            # An existing shard written before compression keeps its plain key; readers take
            # either.
            (key,) = body["binaryData"]
            try:
                await self._kube.create(
                    core_path("configmaps", namespace), body, metadata_only=True
                )
                joined: bool | None = True
            except ApiError as error:
                if error.status != 409:
                    raise
                if grouped:
                    joined = await self.owners.add(namespace, sha256, reference, shard, max_owners)
                else:
                    (joined,) = await self.add_owners(
                        namespace, sha256, shard, [reference], max_owners
                    )
            if joined is None:
                continue  # the shard went with its last owner since: create it again
            if joined:
                name = snapshot_name(sha256, shard)
                if key == PARTS_KEY:
                    await self._ensure_parts(namespace, name, content)
                return name, key
            shard += 1

    async def add_owners(
        self,
        namespace: str,
        sha256: str,
        shard: int,
        references: list[dict[str, Any]],
        max_owners: int,
    ) -> list[bool | None]:
        """Add owners to an existing shard in one write: per reference, whether it is an owner
        now (False: the shard is full; None: the shard is gone).

        The append is guarded by the resourceVersion it was decided on, so concurrent writers
        neither lose an owner nor push a shard past its bound; a conflict is decided again.
        """
        path = core_path("configmaps", namespace, snapshot_name(sha256, shard))
        return await self._add_owners_at(path, references, max_owners)

    async def _add_owners_at(
        self, path: str, references: list[dict[str, Any]], max_owners: int
    ) -> list[bool | None]:
        joined: list[bool | None] = []

        def with_room(owners: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
            owners, before = list(owners), len(owners)
            present = {o.get("uid") for o in owners}
            joined.clear()
            for reference in references:
                if reference["uid"] not in present and len(owners) < max_owners:
                    owners.append(reference)
                    present.add(reference["uid"])
                joined.append(reference["uid"] in present)
            return owners if len(owners) != before else None

        if not await self._rewrite_owners(path, with_room):
            return [None] * len(references)
        return joined

    async def _rewrite_owners(
        self,
        path: str,
        change: Callable[[list[dict[str, Any]]], list[dict[str, Any]] | None],
        known: tuple[list[dict[str, Any]], str] | None = None,
    ) -> bool:
        """Write `change(owners)` as the ConfigMap's ownerReferences (None: nothing to write),
        guarded by the resourceVersion it was decided on; a conflict is decided again on a
        fresh read. `known`: the owners and version as last read. False: the ConfigMap is gone.
        """
        while True:
            if known is None:
                existing = await or_none(self._kube.get(path))
                if existing is None:
                    return False
                meta = existing["metadata"]
                known = (list(meta.get("ownerReferences") or []), meta["resourceVersion"])
            owners, version = known
            changed = change(owners)
            if changed is None:
                return True
            operation: list[dict[str, Any]] = [
                {"op": "test", "path": "/metadata/resourceVersion", "value": version},
                {"op": "add", "path": "/metadata/ownerReferences", "value": changed},
            ]
            try:
                await self._kube.patch(path, operation, "json", metadata_only=True)
                return True
            except ApiError as error:
                if error.not_found:
                    return False
                if error.status not in (409, 422):
                    raise
            known = None

    async def drop_unowned(
        self, namespace: str, sha256: str, uid: str, in_use: Callable[[], bool]
    ) -> None:
        """Delete the first shard unless a unit other than `uid` owns it or `in_use()` says a
        unit references it; a failure is logged, never raised (the snapshot is only litter)."""
        path = core_path("configmaps", namespace, snapshot_name(sha256))
        try:
            existing = await self._kube.get(path)
            owners = [
                o for o in existing["metadata"].get("ownerReferences") or [] if o.get("uid") != uid
            ]
            if owners or in_use():
                return
            await self._kube.delete(
                path,
                {
                    "apiVersion": "v1",
                    "kind": "DeleteOptions",
                    "preconditions": {"resourceVersion": existing["metadata"]["resourceVersion"]},
                },
            )
        except ApiError as error:
            if not (error.not_found or error.conflict):
                logger.warning("could not remove snapshot %s: %s", sha256, error)


def _owned_first_shard(
    seen: Snapshot, sha256: str, reference: dict[str, Any]
) -> tuple[str, str] | None:
    """(ConfigMap, key) of a first shard that holds the content whole and lists the owner."""
    keys = list(seen.binary_data)
    if seen.name != snapshot_name(sha256) or len(keys) != 1 or keys[0] == PARTS_KEY:
        return None
    if all(o.get("uid") != reference["uid"] for o in seen.owner_references):
        return None
    return seen.name, keys[0]


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

    def __init__(self, store: SnapshotStore) -> None:
        self._store = store
        self._waiting: dict[_ShardKey, list[_Joining]] = {}
        self._writers: dict[_ShardKey, asyncio.Task[None]] = {}

    async def add(
        self,
        namespace: str,
        sha256: str,
        reference: dict[str, Any],
        shard: int,
        max_owners: int = MAX_OWNERS,
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
                    joined = await self._store.add_owners(
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
