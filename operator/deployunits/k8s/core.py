"""Core objects the project reads: source ConfigMaps, namespaces, and the server's version."""

from deployunits.k8s._objects import or_none
from deployunits.k8s._transport import KubeClient, core_path
from deployunits.k8s.errors import JSON


class ConfigMaps:
    """Reads ConfigMaps (the sources of units)."""

    def __init__(self, transport: KubeClient) -> None:
        self._kube = transport

    async def get(self, namespace: str, name: str) -> JSON:
        """The ConfigMap as stored; ApiError (404) if there is none."""
        return await self._kube.get(core_path("configmaps", namespace, name))


class Namespaces:
    """Reads namespaces (the policies their annotations set)."""

    def __init__(self, transport: KubeClient) -> None:
        self._kube = transport

    async def exists(self, name: str) -> bool:
        """Whether a namespace of that name exists (the shim's named engines)."""
        return await or_none(self._kube.get(core_path("namespaces", None, name))) is not None

    async def annotation(self, name: str, key: str) -> str | None:
        """A namespace's annotation, or None if either is missing."""
        found = await or_none(self._kube.get(core_path("namespaces", None, name)))
        if found is None:
            return None
        value = (found["metadata"].get("annotations") or {}).get(key)
        return None if value is None else str(value)
