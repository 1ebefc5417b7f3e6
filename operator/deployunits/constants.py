"""Fixed names of the API: group, kinds, plurals, every label, annotation and finalizer, ports."""

from typing import Final, NamedTuple

GROUP: Final = "bpm.deployunits.io"
VERSION: Final = "v1alpha1"
API_VERSION: Final = f"{GROUP}/{VERSION}"
CATEGORY: Final = "bpm"


class Names(NamedTuple):
    """How a kind is named in its CRD and by kubectl."""

    kind: str
    plural: str
    short_names: tuple[str, ...]

    @property
    def singular(self) -> str:
        """The kind in lower case, the singular Kubernetes would give it by default."""
        return self.kind.lower()


DEPLOYMENT_UNIT_KIND: Final = "DeploymentUnit"
DEPLOYMENT_UNIT_PLURAL: Final = "deploymentunits"
DEPLOYMENT_UNIT_NAMES: Final = Names(DEPLOYMENT_UNIT_KIND, DEPLOYMENT_UNIT_PLURAL, ("du",))

REDEPLOY_KIND: Final = "Redeploy"
REDEPLOY_PLURAL: Final = "redeploys"
REDEPLOY_NAMES: Final = Names(REDEPLOY_KIND, REDEPLOY_PLURAL, ("rdp",))

PROCESS_ENGINE_KIND: Final = "ProcessEngine"
PROCESS_ENGINE_PLURAL: Final = "processengines"
PROCESS_ENGINE_NAMES: Final = Names(PROCESS_ENGINE_KIND, PROCESS_ENGINE_PLURAL, ("pe",))

#: Prefix of every label, annotation and finalizer the project writes.
PREFIX: Final = GROUP
FINALIZER: Final = f"{PREFIX}/finalizer"
#: kopf's own finalizer name; kopf removes it from objects whose handlers do not need it, so it
#: must differ from the finalizer the operator manages itself.
KOPF_FINALIZER: Final = f"{PREFIX}/kopf-finalizer"
#: Label on snapshot ConfigMaps: the sha256 of the content they hold.
SNAPSHOT_LABEL: Final = f"{PREFIX}/snapshot"
#: Label on a part of a split snapshot: its slice's sha256 (truncated like SNAPSHOT_LABEL).
SNAPSHOT_PART_LABEL: Final = f"{PREFIX}/snapshot-part"
#: Annotation ("true") on the ProcessEngine that units of its namespace follow by default.
DEFAULT_ENGINE_ANNOTATION: Final = f"{PREFIX}/default-engine"
#: Label on a unit imported from an engine (spec.adoptExisting): the ProcessEngine's name.
ADOPTED_LABEL: Final = f"{PREFIX}/adopted"
#: Annotation on such a unit: the engine's deployment it was imported from (never pushed again).
ADOPTED_FROM_ANNOTATION: Final = f"{PREFIX}/adopted-from"
MANAGED_BY_LABEL: Final = "app.kubernetes.io/managed-by"
MANAGED_BY: Final = "deployunits"
#: Label on objects the shim creates.
CREATED_BY_LABEL: Final = "app.kubernetes.io/created-by"
CREATED_BY: Final = "deployunits-shim"
#: Label on a unit a Redeploy created: the request's name.
REDEPLOY_REQUEST_LABEL: Final = f"{PREFIX}/redeploy"
#: Annotation on a unit a Redeploy created: the request's uid.
REDEPLOY_REQUEST_UID_ANNOTATION: Final = f"{PREFIX}/redeploy-uid"
#: Annotation carrying Camunda's deployment-activation-time of a REST upload.
ACTIVATION_TIME_ANNOTATION: Final = f"{PREFIX}/activation-time"
#: Annotation with the identifier of the last jBPM job written into a unit.
JBPM_JOB_ANNOTATION: Final = f"{PREFIX}/jbpm-job"
#: Namespace annotation that sets the custom-code policy: "deny" or "allow".
CUSTOM_CODE_ANNOTATION: Final = f"{PREFIX}/custom-code"

#: Default bounds on one resource and on one unit's content (settings override them): a BPMN
#: with large embedded documentation reaches a few MiB; snapshots split what one ConfigMap
#: cannot hold.
MAX_RESOURCE_BYTES: Final = 10 * 1024 * 1024
MAX_UNIT_BYTES: Final = 50 * 1024 * 1024

SHIM_PORT: Final = 8080
OPERATOR_PROBE_PORT: Final = 8081
CAMUNDA_PREFIX: Final = "/engine-rest"
JBPM_PREFIX: Final = "/business-central/rest"

#: The jBPM deployment id pattern of the seed document (RE2- and Python-compatible).
JBPM_ID_PATTERN: Final = r"[\w\.-]+(:[\w\.-]+){2,2}(:[\w\.-]*){0,2}"
#: Ids without a colon are Camunda-style: engine-generated UUIDs or similar plain tokens.
CAMUNDA_ID_PATTERN: Final = r"[A-Za-z0-9][A-Za-z0-9_.-]*"
