"""Collects a unit's content from its source: ConfigMaps (data and binaryData) or inline."""

import base64
import binascii

from deployunits.k8s.client import ApiError, KubeClient
from deployunits.models.deploymentunit import ConfigMapSource, DeploymentUnitSpec
from deployunits.reconcile.deploymentunit import ContentProblem, NamedContent


def _config_map_entries(config_map: dict[str, object]) -> dict[str, bytes]:
    entries: dict[str, bytes] = {}
    data = config_map.get("data") or {}
    binary = config_map.get("binaryData") or {}
    assert isinstance(data, dict) and isinstance(binary, dict)
    for key, text in data.items():
        entries[str(key)] = str(text).encode()
    for key, encoded in binary.items():
        entries[str(key)] = base64.b64decode(str(encoded), validate=True)
    return entries


async def _from_config_map(
    client: KubeClient, namespace: str, source: ConfigMapSource
) -> list[NamedContent] | ContentProblem:
    try:
        config_map = await client.get_config_map(namespace, source.name)
    except ApiError as error:
        if error.not_found:
            # GitOps tools may apply the unit before its ConfigMap: wait rather than fail.
            return ContentProblem(f"ConfigMap '{source.name}' not found; waiting for it", True)
        raise
    try:
        entries = _config_map_entries(config_map)
    except (binascii.Error, ValueError) as error:
        return ContentProblem(
            f"ConfigMap '{source.name}' has undecodable binaryData: {error}", False
        )
    if source.keys is None:
        return [NamedContent(key, value) for key, value in sorted(entries.items())]
    missing = [key for key in source.keys if key not in entries]
    if missing:
        return ContentProblem(
            f"ConfigMap '{source.name}' has no key(s) {', '.join(map(repr, missing))}; "
            "waiting for them",
            True,
        )
    return [NamedContent(key, entries[key]) for key in source.keys]


async def collect(
    client: KubeClient, namespace: str, spec: DeploymentUnitSpec
) -> list[NamedContent] | ContentProblem:
    """The unit's resources, or why they cannot be had (yet)."""
    sources = spec.resources
    if sources.inline is not None:
        collected = [NamedContent(item.name, item.content.encode()) for item in sources.inline]
    elif sources.config_maps is not None:
        collected = []
        for source in sources.config_maps:
            part = await _from_config_map(client, namespace, source)
            if isinstance(part, ContentProblem):
                return part
            collected.extend(part)
    else:
        return ContentProblem("Maven sources are not supported by this operator yet", False)
    names = [item.name for item in collected]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        return ContentProblem(f"resource name(s) given twice: {', '.join(duplicates)}", False)
    if not collected:
        return ContentProblem("the unit's sources hold no resources", False)
    return collected
