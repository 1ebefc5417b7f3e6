"""The DeploymentUnit custom resource: one immutable deployment and its desired state."""

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, JsonValue

from deployunits import constants
from deployunits.models.base import (
    CamelModel,
    ConfigMapKey,
    CustomResource,
    K8sName,
    ObservedStatus,
    Sha256Hex,
    ShortText,
    cel_rule,
    cel_rules,
)
from deployunits.models.conditions import Conditions


class RuntimeStrategy(StrEnum):
    """jBPM runtime strategies (RuntimeStrategy)."""

    SINGLETON = "SINGLETON"
    PER_REQUEST = "PER_REQUEST"
    PER_PROCESS_INSTANCE = "PER_PROCESS_INSTANCE"


class MergeMode(StrEnum):
    """jBPM deployment-descriptor merge modes (MergeMode)."""

    KEEP_ALL = "KEEP_ALL"
    OVERRIDE_ALL = "OVERRIDE_ALL"
    OVERRIDE_EMPTY = "OVERRIDE_EMPTY"
    MERGE_COLLECTIONS = "MERGE_COLLECTIONS"


class DesiredState(StrEnum):
    """What the unit should be; every change of it is a deploy or undeploy job."""

    DEPLOYED = "Deployed"
    UNDEPLOYED = "Undeployed"


class DeploymentStatus(StrEnum):
    """The jBPM deployment status enum (JaxbDeploymentStatus), as observed by the operator."""

    ACCEPTED = "ACCEPTED"
    DEPLOYING = "DEPLOYING"
    DEPLOYED = "DEPLOYED"
    DEPLOY_FAILED = "DEPLOY_FAILED"
    UNDEPLOYING = "UNDEPLOYING"
    UNDEPLOYED = "UNDEPLOYED"
    UNDEPLOY_FAILED = "UNDEPLOY_FAILED"


class JobOperation(StrEnum):
    """The two kinds of job."""

    DEPLOY = "DEPLOY"
    UNDEPLOY = "UNDEPLOY"


ResourceName = Annotated[str, Field(min_length=1, max_length=255)]


class ConfigMapSource(CamelModel):
    """Resources taken from a ConfigMap: every key of data and binaryData, or the listed ones."""

    name: K8sName
    """The ConfigMap, in the unit's namespace (kustomize rewrites a generated name)."""
    keys: list[ConfigMapKey] | None = Field(default=None, max_length=256)
    """The keys to take; every key of data and binaryData when absent."""


class InlineResource(CamelModel):
    """A small resource written into the unit itself."""

    name: ResourceName
    """The resource's name, with its extension (.bpmn, .dmn, .cmmn, ...)."""
    content: str = Field(max_length=262144)
    """The resource's text (at most 256 KiB)."""


class MavenArtifact(CamelModel):
    """A kjar in a Maven repository, found the way a KIE server finds it."""

    group_id: str = Field(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9_.-]+$")
    """The artifact's groupId."""
    artifact_id: str = Field(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9_.-]+$")
    """The artifact's artifactId."""
    version: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.-]+$")
    """The artifact's version; a -SNAPSHOT is resolved through maven-metadata.xml."""
    repository: str | None = Field(
        default=None,
        max_length=2048,
        pattern=r"^https?://",
        description="Repository base URL; the operator's default repository when absent.",
    )


class SnapshotRef(CamelModel):
    """A resource already stored as an immutable snapshot (redeploys and REST uploads use these)."""

    name: ResourceName
    """The resource's name in the new deployment."""
    sha256: Sha256Hex
    """The hex sha256 of the stored content (the snapshot ConfigMap's address)."""


class ResourceSources(CamelModel):
    """Where the unit's content comes from: exactly one kind of source."""

    model_config = cel_rules(
        cel_rule(
            "[has(self.configMaps), has(self.inline), has(self.maven),"
            " has(self.snapshots)].exists_one(x, x)",
            "exactly one content source must be set: configMaps, inline, maven or snapshots",
        )
    )

    config_maps: list[ConfigMapSource] | None = Field(default=None, min_length=1, max_length=16)
    """Resources from ConfigMaps (the GitOps way, with configMapGenerator)."""
    inline: list[InlineResource] | None = Field(default=None, min_length=1, max_length=32)
    """Small text resources written into the unit."""
    maven: MavenArtifact | None = None
    """A kjar resolved from a Maven repository and unpacked."""
    snapshots: list[SnapshotRef] | None = Field(default=None, min_length=1, max_length=10000)
    """Content already stored (Redeploys and the REST shim use these)."""


_ID_RULE = (
    f"self.contains(':') ? self.matches('^{constants.JBPM_ID_PATTERN}$')"
    f" : self.matches('^{constants.CAMUNDA_ID_PATTERN}$')"
).replace("\\", "\\\\")


def _immutable_optional(field: str) -> dict[str, JsonValue]:
    return cel_rule(
        f"has(self.{field}) == has(oldSelf.{field})"
        f" && (!has(self.{field}) || self.{field} == oldSelf.{field})",
        f"{field} is immutable",
        f".{field}",
    )


class EngineRef(CamelModel):
    """The ProcessEngine (in the unit's namespace) that the unit is pushed to."""

    name: K8sName
    """The ProcessEngine's name."""


#: Rules on the whole object, because they read the status as well as the spec. On a write of
#: the main resource the API server keeps the stored status, so `oldSelf.status` is what the
#: operator last wrote, and a unit counts as deployed once it has a deploymentTime.
OBJECT_RULES: list[JsonValue] = [
    cel_rule(
        "!has(oldSelf.status) || !has(oldSelf.status.deploymentTime)"
        " || (has(self.spec.engineRef) == has(oldSelf.spec.engineRef)"
        " && (!has(self.spec.engineRef) || self.spec.engineRef == oldSelf.spec.engineRef))",
        "spec.engineRef cannot change once the unit has been deployed; create a new unit (or a "
        "Redeploy) for another engine",
        ".spec.engineRef",
    )
]


class DeploymentUnitSpec(CamelModel):
    """Identity, content and desired state of one deployment."""

    model_config = cel_rules(
        _immutable_optional("name"),
        _immutable_optional("source"),
        _immutable_optional("tenantId"),
        cel_rule(
            "!has(oldSelf.strategy) || (has(self.strategy) && self.strategy == oldSelf.strategy)",
            "strategy cannot change once set",
            ".strategy",
        ),
    )

    deployment_id: str = Field(
        min_length=1,
        max_length=253,
        description="A jBPM id groupId:artifactId:version[:kbase[:ksession]] or a "
        "Camunda-style id.",
        json_schema_extra={
            "x-kubernetes-validations": [
                cel_rule(
                    _ID_RULE,
                    "deploymentId must be a jBPM id groupId:artifactId:version[:kbase[:ksession]] "
                    "(letters, digits, '_', '.', '-') or a Camunda-style id without ':'",
                ),
                cel_rule("self == oldSelf", "deploymentId is immutable"),
            ]
        },
    )
    name: ShortText | None = None
    """The deployment's name (Camunda's deployment-name); immutable."""
    source: ShortText | None = None
    """Where the deployment comes from (Camunda's deployment-source); immutable."""
    tenant_id: str | None = Field(default=None, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    """The tenant of the deployment and its definitions; immutable."""
    resources: ResourceSources
    """Where the content comes from: exactly one of configMaps, inline, maven and snapshots."""
    strategy: RuntimeStrategy | None = None
    """jBPM's runtime strategy; cannot change once set."""
    merge_mode: MergeMode | None = None
    """jBPM's deployment-descriptor merge mode."""
    state: DesiredState = DesiredState.DEPLOYED
    """Deployed or Undeployed; each change is a deploy or undeploy job."""
    enable_duplicate_filtering: bool = False
    """Content identical to the latest deployment of the same name gets no new versions (Camunda's
    enable-duplicate-filtering)."""
    deploy_changed_only: bool = False
    """With duplicate filtering: only changed resources get new versions (Camunda's
    deploy-changed-only)."""
    engine_ref: EngineRef | None = Field(
        default=None,
        description="The ProcessEngine to push to; the namespace's default engine when absent.",
    )


class StoredResource(CamelModel):
    """One resource of the snapshot, and the immutable ConfigMap that holds it."""

    id: str = Field(max_length=64)
    """The resource's id (Camunda's resource id)."""
    name: ResourceName
    """The resource's name."""
    sha256: Sha256Hex
    """The hex sha256 of the content."""
    size: int = Field(ge=0)
    """The content's size in bytes."""
    config_map: K8sName | None = None
    """The immutable snapshot ConfigMap that holds the content."""
    key: ConfigMapKey | None = None
    """The key of the content in that ConfigMap (content.gz when gzipped, else content)."""


DefinitionKind = Literal["process", "decision", "case", "decision-requirements"]


#: Most process variables a definition records (jBPM processes have tens).
MAX_PROCESS_VARIABLES = 1000


class ProcessVariable(CamelModel):
    """A jBPM process variable: its name and its type (a Java class name)."""

    name: str = Field(max_length=1024)
    """The property's name (its id when it has none)."""
    type: str = Field(max_length=1024)
    """The structureRef of the property's item definition (java.lang.Object when it names none)."""


class Definition(CamelModel):
    """A process, decision, case or decision-requirements definition of the unit."""

    kind: DefinitionKind
    """process, decision, case or decision-requirements."""
    id: str = Field(max_length=400)
    """The definition's id, key:version:unique for Camunda-style ids."""
    key: str = Field(max_length=255)
    """The definition's key (the id attribute in the model)."""
    name: str | None = Field(default=None, max_length=1024)
    """The definition's name in the model."""
    version: int = Field(ge=1)
    """The latest version for (kind, key, tenant) in the namespace plus one, assigned once."""
    version_tag: str | None = Field(default=None, max_length=255)
    """The model's camunda:versionTag."""
    resource: ResourceName
    """The resource the definition is in."""
    category: str | None = Field(default=None, max_length=1024)
    """The targetNamespace of the model (Camunda's category)."""
    history_time_to_live: int | None = Field(default=None, ge=0)
    """Camunda's historyTimeToLive, in days."""
    startable: bool | None = None
    """Processes: whether Tasklist may start it (Camunda's isStartableInTasklist)."""
    decision_requirements_key: str | None = Field(default=None, max_length=255)
    """Decisions of a decision-requirements graph: the key of that graph."""
    package_name: str | None = Field(default=None, max_length=255)
    """jBPM processes: the package name."""
    model_version: str | None = Field(default=None, max_length=255)
    """jBPM processes: the model's own version attribute."""
    variables: list[ProcessVariable] | None = Field(default=None, max_length=MAX_PROCESS_VARIABLES)
    """jBPM processes: their variables, in document order (the jBPM dialect lists them)."""


class EngineDefinition(CamelModel):
    """A definition as the process engine deployed it: the engine's id and version."""

    kind: DefinitionKind
    """process, decision, case or decision-requirements."""
    id: str = Field(max_length=400)
    """The engine's id of the definition."""
    key: str = Field(max_length=255)
    """The definition's key."""
    version: int | None = Field(default=None, ge=1)
    """The engine's version of the definition (a KIE Server numbers none: see modelVersion)."""
    resource: ResourceName
    """The resource the definition is in (empty when the engine does not say)."""
    name: str | None = Field(default=None, max_length=1024)
    """The definition's name, as a KIE Server reports it."""
    package_name: str | None = Field(default=None, max_length=255)
    """A jBPM process's package, as a KIE Server reports it."""
    model_version: str | None = Field(default=None, max_length=255)
    """A jBPM process's own version string, as a KIE Server reports it."""
    variables: list[ProcessVariable] | None = Field(default=None, max_length=MAX_PROCESS_VARIABLES)
    """A jBPM process's variables, as a KIE Server reports them."""


class EngineProblem(CamelModel):
    """One error the engine reported while parsing a resource (Camunda's ProblemDto)."""

    resource: ResourceName | None = None
    """The resource the problem is in."""
    message: str = Field(max_length=4096)
    """The engine's message."""
    line: int | None = None
    """The line in the resource."""
    column: int | None = None
    """The column in the resource."""
    main_element_id: str | None = Field(default=None, max_length=255)
    """The id of the element the problem is about."""
    element_ids: list[ShortText] = Field(default_factory=list, max_length=64)
    """The ids of every element involved."""


class EngineSync(CamelModel):
    """The unit's deployment in its process engine, as the engine answered."""

    name: K8sName
    """The ProcessEngine the unit is bound to."""
    job: str | None = Field(default=None, max_length=64)
    """The job this record belongs to; another job's record is history, not sync."""
    deployment_id: str | None = Field(default=None, max_length=255)
    """The engine's id of the deployment."""
    deployment_time: datetime | None = None
    """When the engine made the deployment."""
    definitions: list[EngineDefinition] = Field(default_factory=list, max_length=10000)
    """The definitions as the engine deployed them."""
    problems: list[EngineProblem] = Field(default_factory=list, max_length=100)
    """What the engine refused in the resources (its parse errors)."""


class Job(CamelModel):
    """The last deploy or undeploy job: jBPM's JaxbDeploymentJobResult, kept in status."""

    identifier: str = Field(max_length=64)
    """The job's id (jBPM's job identifier)."""
    operation: JobOperation
    """DEPLOY or UNDEPLOY."""
    submitted: datetime | None = None
    """When the job was accepted."""
    started: datetime | None = None
    """When the operator started it."""
    finished: datetime | None = None
    """When it ended, successful or not."""
    success: bool | None = None
    """Whether it reached the desired state."""
    explanation: str | None = Field(default=None, max_length=32768)
    """Why it failed, or what it did."""


class DeploymentUnitStatus(ObservedStatus):
    """What the operator observed and did; written only by the operator."""

    status: DeploymentStatus | None = None
    """The job status as jBPM names it (ACCEPTED, DEPLOYING, DEPLOYED, DEPLOY_FAILED, UNDEPLOYING,
    UNDEPLOYED, UNDEPLOY_FAILED)."""
    deployment_time: datetime | None = None
    """When the content was deployed; the unit counts as deployed from then on."""
    resources: list[StoredResource] = Field(default_factory=list, max_length=10000)
    """The stored resources of the deployment."""
    definitions: list[Definition] = Field(default_factory=list, max_length=10000)
    """The definitions found in the resources, with their versions."""
    duplicate_of: str | None = Field(default=None, max_length=253)
    """With duplicate filtering: the deployment whose identical content this unit reuses."""
    source_digest: str | None = Field(default=None, max_length=64)
    """Digest of spec.resources at the last deploy job; an edit of the sources is a new job."""
    job: Job | None = None
    """The last deploy or undeploy job."""
    engine: EngineSync | None = None
    """Bound units: the deployment in the process engine (absent for units stored only)."""
    conditions: Conditions = Field(default_factory=list)
    """Ready, Deployed, Reconciling, Stalled and SourceDrifted, as metav1.Conditions."""


class DeploymentUnit(CustomResource):
    """A DeploymentUnit object as read from the API server, or to create."""

    kind: str = constants.DEPLOYMENT_UNIT_KIND
    spec: DeploymentUnitSpec
    status: DeploymentUnitStatus | None = None
