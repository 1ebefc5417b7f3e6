"""Pure decisions of a unit's push to a KIE Server: its container id, release id and settings.

A unit bound to a KIE Server becomes one container whose id is derived from the unit's
deployment id, so that the server can never hold the unit twice and the id leads back to the
unit. The mapping keeps letters, digits, '.' and '-', and writes every other character as '_'
and its UTF-8 bytes in two upper-case hex digits each (percent-encoding with '_' for '%'):
`org.acme:evaluation:1.0` becomes `org.acme_3Aevaluation_3A1.0`, `my_kjar` becomes `my_5Fkjar`.
Each '_' of a container id starts such an escape, so decoding is unambiguous and the mapping
is reversible (`deployment_id_of(container_id(x)) == x`), and the result uses only characters
that every KIE Server and URL path take as they are.
"""

import re
from dataclasses import dataclass

from deployunits.models.deploymentunit import DeploymentUnitSpec, RuntimeStrategy

_KEPT = re.compile(r"[A-Za-z0-9.-]")
_ESCAPE = re.compile(r"_([0-9A-F]{2})")
_CONTAINER_ID = re.compile(r"^(?:[A-Za-z0-9.-]|_[0-9A-F]{2})+$")


def container_id(deployment_id: str) -> str:
    """The KIE container id of a deployment id (see the module's docstring)."""
    if not deployment_id:
        raise ValueError("a deployment id is never empty")
    return "".join(
        char if _KEPT.fullmatch(char) else "".join(f"_{b:02X}" for b in char.encode())
        for char in deployment_id
    )


def deployment_id_of(container: str) -> str | None:
    """The deployment id a container id was derived from; None for an id not made so."""
    if not _CONTAINER_ID.fullmatch(container):
        return None
    raw = bytearray()
    position = 0
    for escape in _ESCAPE.finditer(container):
        raw += container[position : escape.start()].encode()
        raw.append(int(escape.group(1), 16))
        position = escape.end()
    raw += container[position:].encode()
    try:
        decoded = raw.decode()
    except UnicodeDecodeError:
        return None
    # Only the canonical form: an escape of a kept character is another id's.
    return decoded if container_id(decoded) == container else None


@dataclass(frozen=True)
class ContainerPlan:
    """What PUT /containers/{id} sends for a unit: the id, the kjar, and its settings."""

    container_id: str
    group_id: str
    artifact_id: str
    version: str
    #: RuntimeStrategy, KBase and KSession, as the server's config items (name, value).
    settings: tuple[tuple[str, str], ...]

    @property
    def release(self) -> str:
        return f"{self.group_id}:{self.artifact_id}:{self.version}"


def container_plan(spec: DeploymentUnitSpec) -> ContainerPlan | str:
    """The container a unit becomes, or why a KIE Server cannot take the unit (a refusal)."""
    maven = spec.resources.maven
    if maven is None:
        source = (
            "inline resources"
            if spec.resources.inline
            else "ConfigMaps"
            if spec.resources.config_maps
            else "snapshots"
        )
        return (
            f"a KIE Server deploys kjars only: this unit's content comes from {source}, not "
            "from a Maven kjar; give it spec.resources.maven (groupId, artifactId, version), or "
            "bind it to a Camunda 7 ProcessEngine"
        )
    settings: list[tuple[str, str]] = []
    strategy = spec.strategy or RuntimeStrategy.SINGLETON
    settings.append(("RuntimeStrategy", strategy.value))
    parts = spec.deployment_id.split(":")
    # A jBPM id's fourth and fifth parts name the kbase and ksession (empty: the defaults).
    if len(parts) > 3 and parts[3]:
        settings.append(("KBase", parts[3]))
    if len(parts) > 4 and parts[4]:
        settings.append(("KSession", parts[4]))
    return ContainerPlan(
        container_id=container_id(spec.deployment_id),
        group_id=maven.group_id,
        artifact_id=maven.artifact_id,
        version=maven.version,
        settings=tuple(settings),
    )


def missing_kjar_message(said: str, release: str, repository: str | None) -> str:
    """The refusal when the server cannot resolve the kjar: which repository it must reach."""
    where = repository or "the Maven repository the operator reads"
    return (
        f"the KIE Server cannot resolve kjar {release}: its Maven settings must reach {where} "
        f"(kie.maven.settings.custom on the server), where the operator found it. The server "
        f"said: {said}"
    )


def running_instances_message(container: str, ids: list[int], more: bool) -> str:
    """The undeploy refusal under deletePolicy KeepInstances while instances run."""
    shown = ", ".join(str(i) for i in ids[:20])
    extra = " and more" if more or len(ids) > 20 else ""
    return (
        f"container {container} has {len(ids)}{'+' if more else ''} active process instance(s) "
        f"({shown}{extra}); deletePolicy KeepInstances keeps it until they end "
        "(deletePolicy Cascade aborts them)"
    )
