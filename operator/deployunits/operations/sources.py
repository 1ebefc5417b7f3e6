"""Collects a unit's content from its source: ConfigMaps, inline, a Maven kjar, or snapshots."""

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any

from deployunits.content import archive, maven
from deployunits.k8s.errors import ApiError
from deployunits.k8s.gateway import ApiServer
from deployunits.k8s.snapshots import Snapshot
from deployunits.models.deploymentunit import ConfigMapSource, DeploymentUnitSpec
from deployunits.reconcile.deploymentunit import ContentProblem, Limits, NamedContent, UnitReason


def config_map_entries(config_map: dict[str, Any]) -> dict[str, bytes]:
    """Every key of a ConfigMap's data (UTF-8) and binaryData (decoded)."""
    entries: dict[str, bytes] = {}
    for key, text in (config_map.get("data") or {}).items():
        entries[str(key)] = str(text).encode()
    for key, encoded in (config_map.get("binaryData") or {}).items():
        entries[str(key)] = base64.b64decode(str(encoded), validate=True)
    return entries


def select_entries(
    source: ConfigMapSource, config_map: dict[str, Any]
) -> list[NamedContent] | ContentProblem:
    """The resources a ConfigMap source names: every key, or the listed ones."""
    try:
        entries = config_map_entries(config_map)
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
            UnitReason.WAITING_FOR_CONTENT,
        )
    return [NamedContent(key, entries[key]) for key in source.keys]


async def _from_config_maps(
    kube: ApiServer, namespace: str, spec: DeploymentUnitSpec
) -> list[NamedContent] | ContentProblem:
    collected: list[NamedContent] = []
    for source in spec.resources.config_maps or []:
        try:
            config_map = await kube.config_maps.get(namespace, source.name)
        except ApiError as error:
            if error.not_found:
                # GitOps tools may apply the unit before its ConfigMap: wait rather than fail.
                return ContentProblem(
                    f"ConfigMap '{source.name}' not found; waiting for it",
                    True,
                    UnitReason.WAITING_FOR_CONTENT,
                )
            raise
        part = select_entries(source, config_map)
        if isinstance(part, ContentProblem):
            return part
        collected.extend(part)
    return collected


@dataclass
class Claims:
    """A unit reading snapshots as it joins their owners (SnapshotStore.claim), and the shards
    it read, by sha256: the joins the pass makes next start from them."""

    owner: dict[str, Any]
    max_owners: int
    seen: dict[str, Snapshot] = field(default_factory=dict)


async def _from_snapshots(
    kube: ApiServer, namespace: str, spec: DeploymentUnitSpec, claims: Claims | None
) -> list[NamedContent] | ContentProblem:
    collected: list[NamedContent] = []
    for ref in spec.resources.snapshots or []:
        snapshot = None
        if claims is not None:
            snapshot = await kube.snapshots.claim(
                namespace, ref.sha256, claims.owner, claims.max_owners
            )
        if snapshot is None:
            snapshot = await kube.snapshots.find(namespace, ref.sha256)
        if snapshot is not None and claims is not None:
            claims.seen[ref.sha256] = snapshot
        if snapshot is None:
            return ContentProblem(
                f"snapshot of resource '{ref.name}' (sha256 {ref.sha256}) not found",
                False,
                UnitReason.INVALID_CONTENT,
            )
        try:
            content = await kube.snapshots.read(namespace, snapshot, ref.sha256)
            collected.append(NamedContent(ref.name, content))
        except ValueError as error:
            return ContentProblem(str(error), False, UnitReason.INVALID_CONTENT)
    return collected


async def _from_maven(
    http: maven.MavenHttp, default_repository: str, spec: DeploymentUnitSpec, limits: Limits
) -> list[NamedContent] | ContentProblem:
    artifact = spec.resources.maven
    assert artifact is not None
    repository = artifact.repository or default_repository
    try:
        coords = maven.MavenCoordinates(artifact.group_id, artifact.artifact_id, artifact.version)
        resolved = await maven.fetch_artifact(
            http, repository, coords, max_bytes=limits.max_unit_bytes
        )
        entries = archive.extract_kjar(
            resolved.content,
            limits=archive.ArchiveLimits(
                max_entries=limits.max_resources,
                max_resource_bytes=limits.max_resource_bytes,
                max_total_bytes=limits.max_unit_bytes,
            ),
        )
    except maven.MavenUnavailable as error:
        return ContentProblem(str(error), True, UnitReason.SOURCE_UNAVAILABLE)
    except maven.ArtifactNotFound as error:
        return ContentProblem(str(error), False, UnitReason.ARTIFACT_NOT_FOUND)
    except (maven.MavenError, archive.ArchiveError) as error:
        return ContentProblem(str(error), False, UnitReason.INVALID_CONTENT)
    return [NamedContent(entry.name, entry.content) for entry in entries]


async def collect(
    kube: ApiServer,
    http: maven.MavenHttp,
    default_repository: str,
    namespace: str,
    spec: DeploymentUnitSpec,
    limits: Limits,
    claims: Claims | None = None,
) -> list[NamedContent] | ContentProblem:
    """The unit's resources, or why they cannot be had (yet); snapshots are read by `claims`
    when given."""
    sources = spec.resources
    if sources.inline is not None:
        return [NamedContent(item.name, item.content.encode()) for item in sources.inline]
    if sources.config_maps is not None:
        return await _from_config_maps(kube, namespace, spec)
    if sources.snapshots is not None:
        return await _from_snapshots(kube, namespace, spec, claims)
    return await _from_maven(http, default_repository, spec, limits)
