"""The DeploymentUnit store: create from a spec, patch the desired state, write the status."""

from deployunits import constants
from deployunits.k8s._objects import CustomObjects
from deployunits.k8s._transport import custom_path
from deployunits.k8s.errors import JSON
from deployunits.models.deploymentunit import (
    DeploymentUnit,
    DeploymentUnitStatus,
    DesiredState,
    MergeMode,
    RuntimeStrategy,
)


class UnitStore(CustomObjects):
    """Reads and writes DeploymentUnits."""

    plural = constants.DEPLOYMENT_UNIT_PLURAL

    async def create(self, namespace: str, unit: DeploymentUnit, *, whole: bool = False) -> JSON:
        """Create the unit with the project's finalizer on it (the operator would add it anyway;
        set now, it saves a write); returns its metadata, or the whole object with `whole`."""
        manifest = unit.manifest()
        manifest["metadata"]["finalizers"] = [constants.FINALIZER]
        return await self._create(namespace, manifest, metadata_only=not whole)

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
    ) -> JSON:
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
        return await self._kube.patch(
            custom_path(self.plural, namespace, name),
            {"metadata": metadata, "spec": spec},
            metadata_only=True,
        )

    async def write_status(self, namespace: str, name: str, status: DeploymentUnitStatus) -> JSON:
        """Replace the unit's status; returns the written object's metadata."""
        return await self._write_status(namespace, name, status.to_wire())

    async def delete(self, namespace: str, name: str, *, preconditions: dict[str, str]) -> None:
        """Delete the unit (uid, resourceVersion: which one); the operator's finalizer undeploys
        it first."""
        await self._delete(namespace, name, preconditions, background=True)
