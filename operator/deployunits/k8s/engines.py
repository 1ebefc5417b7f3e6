"""The ProcessEngine store, and the Secrets and ConfigMaps an engine's settings refer to."""

from deployunits import constants
from deployunits.k8s._objects import CustomObjects
from deployunits.k8s._transport import KubeClient, core_path
from deployunits.k8s.errors import JSON, ApiError
from deployunits.models.processengine import ProcessEngineStatus


class EngineStore(CustomObjects):
    """Reads ProcessEngines and writes their status."""

    plural = constants.PROCESS_ENGINE_PLURAL

    async def write_status(self, namespace: str, name: str, status: ProcessEngineStatus) -> JSON:
        """Replace the engine's status; returns the written object's metadata."""
        return await self._write_status(namespace, name, status.to_wire())


class Secrets:
    """Reads the Secrets that hold engines' credentials and CA bundles (never lists them)."""

    def __init__(self, transport: KubeClient) -> None:
        self._kube = transport

    async def find(self, namespace: str, name: str) -> JSON | None:
        """The Secret as stored, or None if there is none."""
        try:
            return await self._kube.get(core_path("secrets", namespace, name))
        except ApiError as error:
            if error.not_found:
                return None
            raise
