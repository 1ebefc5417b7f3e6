"""Reads resource content from immutable snapshot ConfigMaps, cached by sha256."""

from collections import OrderedDict

from deployunits import snapshots
from deployunits.k8s.client import ApiError, KubeClient
from deployunits.models.deploymentunit import StoredResource


class ContentStore:
    """Content of stored resources; immutable, so a small LRU keyed by sha256 is always right."""

    def __init__(self, kube: KubeClient, max_bytes: int) -> None:
        self._kube = kube
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
        try:
            config_map = await self._kube.get_config_map(namespace, name)
        except ApiError as error:
            if error.not_found:
                return None
            raise
        try:
            # Whatever the status names as its key: a snapshot written before compression
            # holds the same content under the plain key.
            content = snapshots.content_of(config_map, resource.sha256)
        except ValueError:
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
