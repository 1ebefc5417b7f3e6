"""What the stores of the project's custom resources share: read, list, status, finalizer."""

from collections.abc import Mapping
from typing import Any

from deployunits import constants
from deployunits.k8s._transport import KubeClient, custom_path
from deployunits.k8s.errors import JSON, ApiError


class CustomObjects:
    """Calls on one kind of the project's group (its plural names it in paths)."""

    plural: str = ""

    def __init__(self, transport: KubeClient) -> None:
        self._kube = transport

    async def get(self, namespace: str, name: str) -> JSON:
        """The object as stored; ApiError (404) if there is none."""
        return await self._kube.get(custom_path(self.plural, namespace, name))

    async def find(self, namespace: str, name: str) -> JSON | None:
        """The object as stored, or None if there is none."""
        try:
            return await self.get(namespace, name)
        except ApiError as error:
            if error.not_found:
                return None
            raise

    async def list_page(self, namespace: str | None, params: Mapping[str, str]) -> JSON:
        """One page of a list (params: limit, continue, selectors) of a namespace or of all."""
        return await self._kube.get(custom_path(self.plural, namespace), params=params)

    async def _write_status(self, namespace: str, name: str, status: dict[str, Any]) -> JSON:
        """Replace the status (one merge patch on the status subresource; lists are replaced).

        Returns the written object's metadata (its new resourceVersion), not the whole object.
        """
        return await self._kube.patch(
            custom_path(self.plural, namespace, name, "status"),
            {"status": status},
            "merge",
            metadata_only=True,
        )

    async def set_finalizer(self, body: Mapping[str, Any], *, present: bool) -> JSON | None:
        """Add or remove the project's finalizer, guarded by the object's resourceVersion."""
        meta = body["metadata"]
        finalizers = list(meta.get("finalizers") or [])
        if (constants.FINALIZER in finalizers) == present:
            return None
        changed = (
            [*finalizers, constants.FINALIZER]
            if present
            else [f for f in finalizers if f != constants.FINALIZER]
        )
        patch = {"metadata": {"finalizers": changed, "resourceVersion": meta["resourceVersion"]}}
        return await self._kube.patch(
            custom_path(self.plural, meta["namespace"], meta["name"]), patch, "merge"
        )

    async def _create(self, namespace: str, manifest: JSON, *, metadata_only: bool) -> JSON:
        return await self._kube.create(
            custom_path(self.plural, namespace), manifest, metadata_only=metadata_only
        )

    async def _delete(
        self, namespace: str, name: str, preconditions: dict[str, str], *, background: bool
    ) -> None:
        """Delete under preconditions (uid, resourceVersion); the API server's errors raise."""
        options: JSON = {
            "apiVersion": "v1",
            "kind": "DeleteOptions",
            "preconditions": preconditions,
        }
        if background:
            options["propagationPolicy"] = "Background"
        await self._kube.delete(custom_path(self.plural, namespace, name), options)
