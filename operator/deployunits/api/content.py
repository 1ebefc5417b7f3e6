"""Reads resource content from immutable snapshot ConfigMaps, cached by sha256."""

from collections import OrderedDict

from deployunits.k8s import snapshots
from deployunits.models.deploymentunit import StoredResource


class ContentStore:
    """Content of stored resources; immutable, so a small LRU keyed by sha256 is always right."""

    def __init__(self, store: snapshots.SnapshotStore, max_bytes: int) -> None:
        self._store = store
        self._max_bytes = max_bytes
        self._cache: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0

    async def read(self, namespace: str, resource: StoredResource) -> bytes | None:
        """The resource's bytes, or None if its snapshot is gone or does not match its hash."""
        cached = self._cache.get(resource.sha256)
        if cached is not None:
            self._cache.move_to_end(resource.sha256)
            return cached
        name = resource.config_map or snapshots.snapshot_name(resource.sha256)
        content = await self._store.content(namespace, name, resource.sha256)
        if content is None:
            return None
        self._remember(resource.sha256, content)
        return content

    def _remember(self, sha256: str, content: bytes) -> None:
        if len(content) > self._max_bytes:
            return
        self._cache[sha256] = content
        self._size += len(content)
        while self._size > self._max_bytes:
            _, dropped = self._cache.popitem(last=False)
            self._size -= len(dropped)
