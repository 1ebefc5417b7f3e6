"""The Redeploy store: create a request, write its status, delete it once expired."""

from deployunits import constants
from deployunits.k8s._objects import CustomObjects
from deployunits.k8s.meta import ObjectMeta, metadata_of
from deployunits.models.redeploy import Redeploy, RedeployStatus


class RedeployStore(CustomObjects[Redeploy]):
    """Reads and writes Redeploys."""

    plural = constants.REDEPLOY_PLURAL
    model = Redeploy

    async def create(self, namespace: str, request: Redeploy) -> ObjectMeta:
        """Create a request; returns its metadata."""
        return metadata_of(await self._create(namespace, request.manifest(), metadata_only=True))

    async def write_status(self, namespace: str, name: str, status: RedeployStatus) -> ObjectMeta:
        """Replace the request's status; returns the written object's metadata."""
        return await self._write_status(namespace, name, status.to_wire())

    async def delete(self, namespace: str, name: str, *, preconditions: dict[str, str]) -> None:
        """Delete the request (uid, resourceVersion: which one)."""
        await self._delete(namespace, name, preconditions, background=False)
