"""Typed settings of the operator and the shim, read from DEPLOYUNITS_* variables at start-up."""

import sys
from enum import StrEnum
from typing import Literal, TypeVar

from pydantic import Field, HttpUrl, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from deployunits import constants
from deployunits.models.base import K8sName


class AuthMode(StrEnum):
    """How the shim authenticates callers."""

    KUBERNETES = "kubernetes"
    NONE = "none"


class CommonSettings(BaseSettings):
    """Settings both processes share."""

    model_config = SettingsConfigDict(env_prefix="DEPLOYUNITS_", extra="ignore", frozen=True)

    #: Kubeconfig file; in-cluster configuration when empty and running in a Pod.
    kubeconfig: str | None = None
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    #: Bounds on one resource and on one unit's content: the operator refuses larger units
    #: (Stalled), the shim refuses larger uploads before it stores anything.
    max_resource_bytes: int = Field(default=constants.MAX_RESOURCE_BYTES, ge=1)
    max_unit_bytes: int = Field(default=constants.MAX_UNIT_BYTES, ge=1)


S = TypeVar("S", bound=CommonSettings)


def load_settings(kind: type[S]) -> S | None:
    """A process's settings from its environment; None, with the reason on stderr, if invalid."""
    try:
        return kind()
    except ValueError as error:
        sys.stderr.write(f"invalid settings: {error}\n")
        return None


class OperatorSettings(CommonSettings):
    """Settings of the operator (kopf handlers)."""

    #: Namespaces to watch; all namespaces when empty.
    namespaces: list[str] = Field(default_factory=list)
    #: Run without peering (one replica); with peering, replicas elect one active operator.
    standalone: bool = True
    peering_name: str = "deployunits"
    #: Seconds after which a silent peer counts as gone (and a waiting replica takes over).
    peering_lifetime: int = Field(default=60, ge=5)
    probe_host: str = "0.0.0.0"
    probe_port: int = Field(default=constants.OPERATOR_PROBE_PORT, ge=1, le=65535)
    #: Maven repository used when a unit names none.
    maven_repository: HttpUrl = HttpUrl("https://repo1.maven.org/maven2")
    max_resources_per_unit: int = Field(default=10000, ge=1)
    #: Units per snapshot ConfigMap (its ownerReferences); more sharing one content use shards.
    snapshot_max_owners: int = Field(default=500, ge=1, le=2000)
    #: Concurrent reconcile passes; bounded so the API server is not flooded.
    max_concurrent_reconciles: int = Field(default=32, ge=1)
    #: Objects waiting for a pass that are kept in memory; beyond, they are read again later.
    max_waiting_reconciles: int = Field(default=1000, ge=1)
    #: Whether kopf posts Kubernetes Events for handler outcomes (ours are posted regardless).
    post_handler_events: bool = False
    #: Default policy for executable custom code (scripts, Java classes, expressions) in
    #: deployments; a namespace annotation bpm.deployunits.io/custom-code overrides it.
    custom_code_policy: Literal["allow", "deny"] = "allow"
    #: How long finished Redeploys created by the shim live, by default.
    redeploy_ttl_seconds: int = Field(default=3600, ge=0)


class ShimSettings(CommonSettings):
    """Settings of the REST shim."""

    host: str = "127.0.0.1"
    port: int = Field(default=constants.SHIM_PORT, ge=1, le=65535)
    #: The namespace the default engine addresses.
    namespace: str = "default"
    auth_mode: AuthMode = AuthMode.KUBERNETES
    #: Audiences a bearer token must carry; the API server's default audience when empty.
    token_audiences: list[str] = Field(default_factory=list)
    auth_cache_seconds: float = Field(default=10.0, ge=0)
    #: jBPM dialect: submitted but unfinished deploy/undeploy jobs before "Queue is full".
    job_queue_limit: int = Field(default=100, ge=1)
    #: jBPM dialect: the Maven repository written into units a REST deploy creates; the
    #: operator's default repository when unset.
    maven_repository: HttpUrl | None = None
    #: Namespaces (engines) the shim serves; every namespace when empty.
    namespaces: list[str] = Field(default_factory=list)
    #: How long a write (create, redeploy, delete) waits for the operator before giving up.
    write_timeout_seconds: float = Field(default=30.0, gt=0)
    #: How long finished Redeploys that the shim created are kept.
    redeploy_ttl_seconds: int = Field(default=300, ge=0, le=31536000)
    #: Largest request body accepted (a deployment upload); larger ones are refused with 413.
    #: Above max_unit_bytes by the room a multipart form takes.
    max_request_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    #: Most resources one upload may carry (the operator's default limit per unit, and the
    #: CRD's bound on snapshot references); more are refused before anything is stored.
    max_resources_per_deployment: int = Field(default=10000, ge=1, le=10000)
    #: Largest request head (request line and headers; long bearer tokens live there), however
    #: it arrives. Larger ones are answered 431 and their connection is closed; the HTTP parser
    #: (httptools) has no limit of its own.
    max_request_head_bytes: int = Field(default=128 * 1024, ge=16 * 1024, le=16 * 1024 * 1024)
    #: Seconds a client may take to send a request's head (slow or stalled ones are cut off).
    request_header_timeout_seconds: float = Field(default=10.0, gt=0)
    #: Seconds a client may take to send a request's whole body (an upload of max_request_bytes).
    request_body_timeout_seconds: float = Field(default=300.0, gt=0)
    #: Resource contents kept in memory for reads of resource data (snapshots are immutable).
    content_cache_bytes: int = Field(default=64 * 1024 * 1024, ge=0)
    #: The ProcessEngine (in `namespace`) the default engine is bound to: the shim then answers
    #: deployment writes with that engine's ids and forwards every other /engine-rest call to
    #: it. Unbound (deployments stored only, nothing forwarded) when unset.
    engine: K8sName | None = None
    #: Where the shim reaches the default engine's ProcessEngine, instead of its spec.camunda7.url
    #: (which the operator uses): a sidecar in the engine's Pod reaches it on loopback.
    engine_url: HttpUrl | None = None
    #: Named engines bound to a ProcessEngine, namespace to ProcessEngine name (JSON), for
    #: example {"team-a": "camunda"}.
    engines: dict[K8sName, K8sName] = Field(default_factory=dict)
    #: Seconds a bound engine's ProcessEngine and Secret are used before they are read again
    #: (a rotated password takes effect within this).
    engine_refresh_seconds: float = Field(default=10.0, ge=0)

    @model_validator(mode="after")
    def _engine_url_needs_an_engine(self) -> "ShimSettings":
        if self.engine_url is not None and self.engine is None:
            raise ValueError("engine_url is where the shim reaches `engine`; set engine too")
        return self

    def engine_urls(self) -> dict[str, str]:
        """The bound namespaces whose engine the shim reaches elsewhere than its ProcessEngine's
        URL, and where."""
        if self.engine_url is None:
            return {}
        return {self.namespace: str(self.engine_url)}

    def bindings(self) -> dict[str, str]:
        """The ProcessEngine each bound namespace's Camunda dialect forwards to."""
        bound = dict(self.engines)
        if self.engine is not None:
            bound.setdefault(self.namespace, self.engine)
        return bound

    @model_validator(mode="after")
    def _unauthenticated_only_on_loopback(self) -> "ShimSettings":
        # Mode "none" trusts every caller, so it must never be reachable from a network.
        if self.auth_mode is AuthMode.NONE and self.host not in {"127.0.0.1", "localhost", "::1"}:
            raise ValueError(
                f"auth_mode 'none' binds only to loopback, not {self.host!r}; "
                "use auth_mode 'kubernetes' to serve other hosts"
            )
        return self
