"""The DeploymentUnit store: create from a spec, patch the desired state, write the status."""

from typing import Any

from deployunits import constants
from deployunits.k8s._objects import CustomObjects
from deployunits.k8s._transport import custom_path
from deployunits.k8s.meta import ObjectMeta, metadata_of
from deployunits.models.deploymentunit import (
    DeploymentUnit,
    DeploymentUnitStatus,
    DesiredState,
    MergeMode,
    RuntimeStrategy,
)


class UnitStore(CustomObjects[DeploymentUnit]):
    """Reads and writes DeploymentUnits."""

    plural = constants.DEPLOYMENT_UNIT_PLURAL
    model = DeploymentUnit

    async def create(self, namespace: str, unit: DeploymentUnit) -> ObjectMeta:
        """Create the unit with the project's finalizer on it (the operator would add it anyway;
        set now, it saves a write); returns its metadata."""
        return metadata_of(await self._create(namespace, _manifest(unit), metadata_only=True))

    async def create_whole(self, namespace: str, unit: DeploymentUnit) -> DeploymentUnit:
        """Create the unit as `create` does; returns the whole object as created."""
        created = await self._create(namespace, _manifest(unit), metadata_only=False)
        return DeploymentUnit.model_validate(created)

    async def patch_state(
        self,
        namespace: str,
        name: str,
        state: DesiredState,
        *,
        resource_version: int | None,
        annotations: dict[str, str],
        strategy: RuntimeStrategy | None = None,
        merge_mode: MergeMode | None = None,
    ) -> ObjectMeta:
        """Change spec.state (and the jBPM settings given) under the resourceVersion
        precondition, if any; returns the written object's metadata."""
        spec: dict[str, str] = {"state": state.value}
        if strategy is not None:
            spec["strategy"] = strategy.value
        if merge_mode is not None:
            spec["mergeMode"] = merge_mode.value
        metadata: dict[str, object] = {"annotations": annotations}
        if resource_version is not None:
            metadata["resourceVersion"] = str(resource_version)
        return metadata_of(
            await self._kube.patch(
                custom_path(self.plural, namespace, name),
                {"metadata": metadata, "spec": spec},
                metadata_only=True,
            )
        )

    async def write_status(
        self, namespace: str, name: str, status: DeploymentUnitStatus
    ) -> ObjectMeta:
        """Replace the unit's status; returns the written object's metadata."""
        return await self._write_status(namespace, name, status.to_wire())

    async def delete(self, namespace: str, name: str, *, preconditions: dict[str, str]) -> None:
        """Delete the unit (uid, resourceVersion: which one); the operator's finalizer undeploys
        it first."""
        await self._delete(namespace, name, preconditions, background=True)


def _manifest(unit: DeploymentUnit) -> dict[str, Any]:
    manifest = unit.manifest()
    manifest["metadata"]["finalizers"] = [constants.FINALIZER]
    return manifest
