"""A ConfigMap written only under resourceVersion preconditions: the shim's jBPM job ledger."""

from dataclasses import dataclass

from deployunits import constants
from deployunits.k8s._objects import or_none
from deployunits.k8s._transport import KubeClient, core_path
from deployunits.k8s.meta import ObjectMeta, metadata_of


@dataclass(frozen=True, slots=True)
class LedgerData:
    """The ledger ConfigMap as read: its data, and the version it was read at."""

    data: dict[str, str]
    resource_version: str | None


class LedgerStore:
    """One named ConfigMap read whole and written under the version it was decided on."""

    def __init__(self, transport: KubeClient, namespace: str, name: str) -> None:
        self._kube = transport
        self.namespace = namespace
        self.name = name
        self._path = core_path("configmaps", namespace, name)

    async def read(self) -> LedgerData | None:
        """The ConfigMap's data and version, or None if it does not exist yet."""
        found = await or_none(self._kube.get(self._path))
        if found is None:
            return None
        return LedgerData(
            dict(found.get("data") or {}),
            str((found.get("metadata") or {}).get("resourceVersion") or "") or None,
        )

    async def create(self, data: dict[str, str]) -> ObjectMeta:
        """Create it (409 if it exists); returns its metadata."""
        created = await self._kube.create(
            core_path("configmaps", self.namespace),
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {
                    "name": self.name,
                    "labels": {
                        constants.CREATED_BY_LABEL: constants.CREATED_BY,
                        constants.MANAGED_BY_LABEL: constants.MANAGED_BY,
                    },
                },
                "data": data,
            },
            metadata_only=True,
        )
        return metadata_of(created)

    async def patch_data(self, resource_version: str, data: dict[str, str | None]) -> ObjectMeta:
        """Merge `data` (None removes a key) into the version read (409 if it changed since);
        returns the metadata only: the whole ledger back on every admission would be most of
        its cost."""
        patched = await self._kube.patch(
            self._path,
            {"metadata": {"resourceVersion": resource_version}, "data": data},
            metadata_only=True,
        )
        return metadata_of(patched)
