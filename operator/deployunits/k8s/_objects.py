"""What the stores share: reads that miss as None, and the stores of the project's custom
resources (read, list, status, finalizer)."""

from collections.abc import Awaitable, Mapping
from typing import Any, Generic, TypeVar

from deployunits import constants
from deployunits.k8s._transport import KubeClient, custom_path
from deployunits.k8s.errors import JSON, ApiError
from deployunits.k8s.meta import ObjectMeta, metadata_of
from deployunits.models.base import CamelModel

T = TypeVar("T")
M = TypeVar("M", bound=CamelModel)


async def or_none(read: Awaitable[T]) -> T | None:
    """What a read returns, or None if the object does not exist (404); other errors raise."""
    try:
        return await read
    except ApiError as error:
        if error.not_found:
            return None
        raise


class CustomObjects(Generic[M]):
    """Calls on one kind of the project's group (its plural names it in paths; `model` is what
    its reads return)."""

    plural: str = ""
    model: type[M]

    def __init__(self, transport: KubeClient) -> None:
        self._kube = transport

    async def get(self, namespace: str, name: str) -> M:
        """The object as stored; ApiError (404) if there is none."""
        return self.model.model_validate(await self._get_body(namespace, name))

    async def find(self, namespace: str, name: str) -> M | None:
        """The object as stored, or None if there is none."""
        body = await self.find_body(namespace, name)
        return None if body is None else self.model.model_validate(body)

    async def find_body(self, namespace: str, name: str) -> JSON | None:
        """The object as the API server sends it (as kopf delivers it to handlers), or None: for
        the passes that start over from a fresh read of what they were handed."""
        return await or_none(self._get_body(namespace, name))

    async def _get_body(self, namespace: str, name: str) -> JSON:
        return await self._kube.get(custom_path(self.plural, namespace, name))

    async def list_page(self, namespace: str | None, params: Mapping[str, str]) -> JSON:
        """One page of a list (params: limit, continue, selectors) of a namespace or of all, as
        the API server sends it: callers scan its items for one field."""
        return await self._kube.get(custom_path(self.plural, namespace), params=params)

    async def _write_status(self, namespace: str, name: str, status: dict[str, Any]) -> ObjectMeta:
        """Replace the status (one merge patch on the status subresource; lists are replaced).

        Returns the written object's metadata (its new resourceVersion), not the whole object.
        """
        return metadata_of(
            await self._kube.patch(
                custom_path(self.plural, namespace, name, "status"),
                {"status": status},
                "merge",
                metadata_only=True,
            )
        )

    async def set_finalizer(self, meta: ObjectMeta, *, present: bool) -> ObjectMeta | None:
        """Add or remove the project's finalizer, guarded by the object's resourceVersion;
        returns the written object's metadata (None: nothing to change)."""
        if (constants.FINALIZER in meta.finalizers) == present:
            return None
        changed = (
            [*meta.finalizers, constants.FINALIZER]
            if present
            else [f for f in meta.finalizers if f != constants.FINALIZER]
        )
        patch = {"metadata": {"finalizers": changed, "resourceVersion": meta.resource_version}}
        assert meta.namespace is not None  # the project's kinds are namespaced
        return metadata_of(
            await self._kube.patch(
                custom_path(self.plural, meta.namespace, meta.name),
                patch,
                "merge",
                metadata_only=True,
            )
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
