"""DeploymentUnits, ConfigMaps and Redeploys as objects: what tests apply, what the API lists."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

API_VERSION = "bpm.deployunits.io/v1alpha1"


def deployment_unit(
    name: str,
    /,
    *,
    deployment_id: str | None = None,
    inline: Mapping[str, str] | Sequence[tuple[str, str]] = (),
    config_maps: Sequence[str | dict[str, Any]] = (),
    maven: Mapping[str, str] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    """A DeploymentUnit `name`, deployment id `{name}-1` unless given, with the resources
    `inline` (name to content, or pairs, which may repeat a name), `config_maps` (names, or
    entries with their `keys`) and `maven` (the artifact's fields), and the rest of `spec` as
    given."""
    pairs = inline.items() if isinstance(inline, Mapping) else inline
    resources: dict[str, Any] = {}
    if pairs:
        resources["inline"] = [{"name": key, "content": content} for key, content in pairs]
    if config_maps:
        resources["configMaps"] = [
            {"name": source} if isinstance(source, str) else source for source in config_maps
        ]
    if maven is not None:
        resources["maven"] = dict(maven)
    return {
        "apiVersion": API_VERSION,
        "kind": "DeploymentUnit",
        "metadata": {"name": name},
        "spec": {"deploymentId": deployment_id or f"{name}-1", **spec, "resources": resources},
    }


def config_map(
    name: str, data: Mapping[str, str], binary_data: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """A ConfigMap `name` (a unit's source) with `data` and, base64, `binary_data`."""
    found: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name},
        "data": dict(data),
    }
    if binary_data:
        found["binaryData"] = dict(binary_data)
    return found


def redeploy(name: str, deployment_id: str, **spec: Any) -> dict[str, Any]:
    """A Redeploy `name` of the deployment `deployment_id`, with the rest of `spec` as given."""
    return {
        "apiVersion": API_VERSION,
        "kind": "Redeploy",
        "metadata": {"name": name},
        "spec": {"deploymentId": deployment_id, **spec},
    }


def listed_unit(
    name: str,
    rv: int = 1,
    *,
    deployment_id: str | None = None,
    namespace: str = "ns",
    status: dict[str, Any] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    """A DeploymentUnit as the API server lists it: uid `uid-{name}`, resourceVersion `rv`,
    generation 1, deployment id `name` unless given, one inline resource and the rest of
    `spec`; its `status` (observedGeneration 1 added), or none with None."""
    body: dict[str, Any] = {
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": f"uid-{name}",
            "resourceVersion": str(rv),
            "generation": 1,
            "creationTimestamp": "2026-12-04T10:00:00Z",
        },
        "spec": {
            "deploymentId": deployment_id or name,
            **spec,
            "resources": {"inline": [{"name": "a.bpmn", "content": "<x/>"}]},
        },
    }
    if status is not None:
        body["status"] = {"observedGeneration": 1, **status}
    return body
