"""The ProcessEngine custom resource: a real engine (Camunda 7 or KIE Server) to push units to."""

from enum import StrEnum
from typing import Annotated, Self

from pydantic import Field, model_validator

from deployunits import constants
from deployunits.models.base import (
    CamelModel,
    ConfigMapKey,
    CustomResource,
    K8sName,
    ObservedStatus,
    cel_rules,
    exactly_one,
)
from deployunits.models.conditions import Conditions

#: The annotation that makes a ProcessEngine its namespace's default engine.
DEFAULT_ENGINE_ANNOTATION = f"{constants.PREFIX}/default-engine"


class DeletePolicy(StrEnum):
    """What an undeploy does to the engine's running instances of the deployment."""

    #: Delete the deployment with its instances, history and jobs (cascade=true); a KIE
    #: Server's container is deleted, which aborts its running instances.
    CASCADE = "Cascade"
    #: Refuse while instances run: Camunda answers ENGINE-03076 (cascade=false); for a KIE
    #: Server the operator asks for the container's active instances first.
    KEEP_INSTANCES = "KeepInstances"


class SecretReference(CamelModel):
    """A Secret in the engine's namespace: `username` and `password` (HTTP basic) or `token`."""

    name: K8sName
    """The Secret's name."""


class KeySelector(CamelModel):
    """One key of a Secret or ConfigMap in the engine's namespace."""

    name: K8sName
    """The Secret's or ConfigMap's name."""
    key: ConfigMapKey = "ca.crt"
    """The key that holds the PEM certificates."""


#: An engine's REST base: http(s), a host, a path; never credentials, a query or a fragment.
EngineUrl = Annotated[
    str, Field(min_length=1, max_length=2048, pattern=r"^https?://[^/@?#\s]+(/[^?#\s]*)?$")
]


class CaBundle(CamelModel):
    """PEM certificates to trust for the engine's https URL, from a Secret or a ConfigMap."""

    model_config = cel_rules(exactly_one("secretKeyRef", "configMapKeyRef"))

    secret_key_ref: KeySelector | None = None
    """A key of a Secret."""
    config_map_key_ref: KeySelector | None = None
    """A key of a ConfigMap."""


class Camunda7(CamelModel):
    """How to reach an engine that speaks Camunda 7's REST API."""

    url: EngineUrl = Field(
        description="The REST API's base, for example http://camunda:8080/engine-rest; no "
        "credentials in it (use authSecretRef)."
    )
    auth_secret_ref: SecretReference | None = Field(
        default=None,
        description="A Secret with username and password (HTTP basic) or token (bearer).",
    )
    engine_name: str | None = Field(
        default=None,
        min_length=1,
        max_length=255,
        # One path segment, never "." or "..".
        pattern=r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*$",
        description="A named engine: calls go to {url}/engine/{engineName}/...",
    )
    ca_bundle: CaBundle | None = None


class KieServer(CamelModel):
    """How to reach a KIE Server (jBPM 7): kjar units become its containers."""

    url: EngineUrl = Field(
        description="The REST API's base, for example http://kie:8080/kie-server/services/rest/"
        "server (Spring Boot: .../rest/server); no credentials in it (use authSecretRef)."
    )
    auth_secret_ref: SecretReference | None = Field(
        default=None,
        description="A Secret with username and password (HTTP basic) or token (bearer); the "
        "user needs the kie-server role.",
    )
    ca_bundle: CaBundle | None = None


class ProcessEngineSpec(CamelModel):
    """Where the engine is and how units are pushed to it: exactly one of camunda7, kieServer."""

    model_config = cel_rules(exactly_one("camunda7", "kieServer"))

    camunda7: Camunda7 | None = None
    """A Camunda 7 engine (its REST API)."""
    kie_server: KieServer | None = None
    """A KIE Server (jBPM): units with a Maven kjar become its containers."""
    tenant_id: str | None = Field(
        default=None,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="The tenant of pushed units that name none.",
    )
    delete_policy: DeletePolicy = DeletePolicy.KEEP_INSTANCES
    resync_seconds: int = Field(
        default=60, ge=5, le=86400, description="How often deployed units are checked."
    )
    adopt_existing: bool = Field(
        default=False,
        description="Import each deployment that no unit owns, once, as a DeploymentUnit "
        "(Camunda 7 only).",
    )

    @model_validator(mode="after")
    def _one_engine(self) -> Self:
        if (self.camunda7 is None) == (self.kie_server is None):
            raise ValueError("set exactly one of camunda7 and kieServer")
        return self

    @property
    def endpoint(self) -> Camunda7 | KieServer:
        """The engine's URL, credentials and CA bundle, whichever kind it is."""
        endpoint = self.camunda7 or self.kie_server
        assert endpoint is not None  # the validator above, and the CRD's rule
        return endpoint


class ProcessEngineStatus(ObservedStatus):
    """What the operator last saw of the engine; written only by the operator."""

    engine_version: str | None = Field(default=None, max_length=64)
    """The engine's version, as it reports it."""
    deployments: int | None = Field(default=None, ge=0)
    """How many bound units are synced to the engine."""
    unmanaged_deployments: int | None = Field(default=None, ge=0)
    """Deployments in the engine that no unit owns."""
    conditions: Conditions = Field(default_factory=list)
    """Ready, as metav1.Conditions."""


class ProcessEngine(CustomResource):
    """A ProcessEngine object as read from the API server."""

    kind: str = constants.PROCESS_ENGINE_KIND
    spec: ProcessEngineSpec
    status: ProcessEngineStatus | None = None
