"""A ConfigMap written only under resourceVersion preconditions: the shim's jBPM job ledger."""

from deployunits import constants
from deployunits.k8s._transport import KubeClient, core_path
from deployunits.k8s.errors import JSON, ApiError


class LedgerStore:
    """One named ConfigMap read whole and written under the version it was decided on."""

    def __init__(self, transport: KubeClient, namespace: str, name: str) -> None:
        self._kube = transport
        self.namespace = namespace
        self.name = name
        self._path = core_path("configmaps", namespace, name)

    async def read(self) -> JSON | None:
        """The ConfigMap, or None if it does not exist yet."""
        try:
            return await self._kube.get(self._path)
        except ApiError as error:
            if error.not_found:
                return None
            raise

    async def create(self, data: dict[str, str]) -> JSON:
        """Create it (409 if it exists); returns its metadata."""
        return await self._kube.create(
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

    async def patch_data(self, resource_version: str, data: dict[str, str | None]) -> JSON:
        """Merge `data` (None removes a key) into the version read (409 if it changed since);
        returns the metadata only: the whole ledger back on every admission would be most of
        its cost."""
        return await self._kube.patch(
            self._path,
            {"metadata": {"resourceVersion": resource_version}, "data": data},
            metadata_only=True,
        )
