"""The DeploymentUnit custom resource: one immutable deployment and its desired state."""

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, JsonValue

from deployunits import constants
from deployunits.models.base import (
    CamelModel,
    ConfigMapKey,
    CustomResource,
    K8sName,
    Sha256Hex,
    ShortText,
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
    keys: list[ConfigMapKey] | None = Field(default=None, max_length=256)


class InlineResource(CamelModel):
    """A small resource written into the unit itself."""

    name: ResourceName
    content: str = Field(max_length=262144)


class MavenArtifact(CamelModel):
    """A kjar in a Maven repository, found the way a KIE server finds it."""

    group_id: str = Field(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9_.-]+$")
    artifact_id: str = Field(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9_.-]+$")
    version: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.-]+$")
    repository: str | None = Field(
        default=None,
        max_length=2048,
        pattern=r"^https?://",
        description="Repository base URL; the operator's default repository when absent.",
    )


class SnapshotRef(CamelModel):
    """A resource already stored as an immutable snapshot (redeploys and REST uploads use these)."""

    name: ResourceName
    sha256: Sha256Hex


class ResourceSources(CamelModel):
    """Where the unit's content comes from: exactly one kind of source."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "[has(self.configMaps), has(self.inline), has(self.maven),"
                    " has(self.snapshots)].exists_one(x, x)",
                    "message": "exactly one content source must be set: configMaps, inline, "
                    "maven or snapshots",
                }
            ]
        }
    )

    config_maps: list[ConfigMapSource] | None = Field(default=None, min_length=1, max_length=16)
    inline: list[InlineResource] | None = Field(default=None, min_length=1, max_length=32)
    maven: MavenArtifact | None = None
    snapshots: list[SnapshotRef] | None = Field(default=None, min_length=1, max_length=10000)


_ID_RULE = (
    f"self.contains(':') ? self.matches('^{constants.JBPM_ID_PATTERN}$')"
    f" : self.matches('^{constants.CAMUNDA_ID_PATTERN}$')"
).replace("\\", "\\\\")


def _immutable_optional(field: str) -> dict[str, JsonValue]:
    return {
        "rule": f"has(self.{field}) == has(oldSelf.{field})"
        f" && (!has(self.{field}) || self.{field} == oldSelf.{field})",
        "message": f"{field} is immutable",
        "fieldPath": f".{field}",
    }


class EngineRef(CamelModel):
    """The ProcessEngine (in the unit's namespace) that the unit is pushed to."""

    name: K8sName


#: Rules on the whole object, because they read the status as well as the spec. On a write of
#: the main resource the API server keeps the stored status, so `oldSelf.status` is what the
#: operator last wrote, and a unit counts as deployed once it has a deploymentTime.
OBJECT_RULES: list[JsonValue] = [
    {
        "rule": "!has(oldSelf.status) || !has(oldSelf.status.deploymentTime)"
        " || (has(self.spec.engineRef) == has(oldSelf.spec.engineRef)"
        " && (!has(self.spec.engineRef) || self.spec.engineRef == oldSelf.spec.engineRef))",
        "message": "spec.engineRef cannot change once the unit has been deployed; create a new "
        "unit (or a Redeploy) for another engine",
        "fieldPath": ".spec.engineRef",
    }
]


class DeploymentUnitSpec(CamelModel):
    """Identity, content and desired state of one deployment."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                _immutable_optional("name"),
                _immutable_optional("source"),
                _immutable_optional("tenantId"),
                {
                    "rule": "!has(oldSelf.strategy)"
                    " || (has(self.strategy) && self.strategy == oldSelf.strategy)",
                    "message": "strategy cannot change once set",
                    "fieldPath": ".strategy",
                },
            ]
        }
    )

    deployment_id: str = Field(
        min_length=1,
        max_length=253,
        description="A jBPM id groupId:artifactId:version[:kbase[:ksession]] or a "
        "Camunda-style id.",
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": _ID_RULE,
                    "message": "deploymentId must be a jBPM id groupId:artifactId:version"
                    "[:kbase[:ksession]] (letters, digits, '_', '.', '-') or a Camunda-style id "
                    "without ':'",
                },
                {"rule": "self == oldSelf", "message": "deploymentId is immutable"},
            ]
        },
    )
    name: ShortText | None = None
    source: ShortText | None = None
    tenant_id: str | None = Field(default=None, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    resources: ResourceSources
    strategy: RuntimeStrategy | None = None
    merge_mode: MergeMode | None = None
    state: DesiredState = DesiredState.DEPLOYED
    enable_duplicate_filtering: bool = False
    deploy_changed_only: bool = False
    engine_ref: EngineRef | None = Field(
        default=None,
        description="The ProcessEngine to push to; the namespace's default engine when absent.",
    )


class StoredResource(CamelModel):
    """One resource of the snapshot, and the immutable ConfigMap that holds it."""

    id: str = Field(max_length=64)
    name: ResourceName
    sha256: Sha256Hex
    size: int = Field(ge=0)
    config_map: K8sName | None = None
    key: ConfigMapKey | None = None


DefinitionKind = Literal["process", "decision", "case", "decision-requirements"]


#: Most process variables a definition records (jBPM processes have tens).
MAX_PROCESS_VARIABLES = 1000


class ProcessVariable(CamelModel):
    """A jBPM process variable: its name and its type (a Java class name)."""

    name: str = Field(max_length=1024)
    type: str = Field(max_length=1024)


class Definition(CamelModel):
    """A process, decision, case or decision-requirements definition of the unit."""

    kind: DefinitionKind
    id: str = Field(max_length=400)
    key: str = Field(max_length=255)
    name: str | None = Field(default=None, max_length=1024)
    version: int = Field(ge=1)
    version_tag: str | None = Field(default=None, max_length=255)
    resource: ResourceName
    #: The targetNamespace of the model (Camunda's "category").
    category: str | None = Field(default=None, max_length=1024)
    history_time_to_live: int | None = Field(default=None, ge=0)
    #: Processes: whether Tasklist may start it (Camunda isStartableInTasklist).
    startable: bool | None = None
    #: Decisions of a decision-requirements graph: the key of that graph.
    decision_requirements_key: str | None = Field(default=None, max_length=255)
    #: jBPM processes: the package name and the model's own version attribute.
    package_name: str | None = Field(default=None, max_length=255)
    model_version: str | None = Field(default=None, max_length=255)
    #: jBPM processes: their variables, in document order (the jBPM dialect lists them).
    variables: list[ProcessVariable] | None = Field(default=None, max_length=MAX_PROCESS_VARIABLES)


class EngineDefinition(CamelModel):
    """A definition as the process engine deployed it: the engine's id and version."""

    kind: DefinitionKind
    id: str = Field(max_length=400)
    key: str = Field(max_length=255)
    version: int = Field(ge=1)
    resource: ResourceName


class EngineProblem(CamelModel):
    """One error the engine reported while parsing a resource (Camunda's ProblemDto)."""

    resource: ResourceName | None = None
    message: str = Field(max_length=4096)
    line: int | None = None
    column: int | None = None
    main_element_id: str | None = Field(default=None, max_length=255)
    element_ids: list[ShortText] = Field(default_factory=list, max_length=64)


class EngineSync(CamelModel):
    """The unit's deployment in its process engine, as the engine answered."""

    #: The ProcessEngine the unit is bound to.
    name: K8sName
    #: The job this record belongs to; another job's record is history, not sync.
    job: str | None = Field(default=None, max_length=64)
    deployment_id: str | None = Field(default=None, max_length=255)
    deployment_time: datetime | None = None
    definitions: list[EngineDefinition] = Field(default_factory=list, max_length=10000)
    problems: list[EngineProblem] = Field(default_factory=list, max_length=100)


class Job(CamelModel):
    """The last deploy or undeploy job: jBPM's JaxbDeploymentJobResult, kept in status."""

    identifier: str = Field(max_length=64)
    operation: JobOperation
    submitted: datetime | None = None
    started: datetime | None = None
    finished: datetime | None = None
    success: bool | None = None
    explanation: str | None = Field(default=None, max_length=32768)


class DeploymentUnitStatus(CamelModel):
    """What the operator observed and did; written only by the operator."""

    observed_generation: int | None = Field(default=None, ge=0)
    status: DeploymentStatus | None = None
    deployment_time: datetime | None = None
    resources: list[StoredResource] = Field(default_factory=list, max_length=10000)
    definitions: list[Definition] = Field(default_factory=list, max_length=10000)
    #: With duplicate filtering: the deployment whose identical content this unit reuses.
    duplicate_of: str | None = Field(default=None, max_length=253)
    #: Digest of spec.resources at the last deploy job; an edit of the sources is a new job.
    source_digest: str | None = Field(default=None, max_length=64)
    job: Job | None = None
    #: Bound units: the deployment in the process engine (absent for units stored only).
    engine: EngineSync | None = None
    conditions: Conditions = Field(default_factory=list)


class DeploymentUnit(CustomResource):
    """A DeploymentUnit object as read from the API server, or to create."""

    kind: str = constants.DEPLOYMENT_UNIT_KIND
    spec: DeploymentUnitSpec
    status: DeploymentUnitStatus | None = None
