"""The engines gateway: the only code that builds engine URLs or calls process engines."""

from deployunits.engines.camunda7 import (
    Camunda7Client,
    DeploymentDefinitions,
    NewDeployment,
    NewResource,
)
from deployunits.engines.connection import (
    BasicAuth,
    BearerToken,
    Camunda7Connection,
    Credentials,
    EngineSettingsError,
    connection_for,
    credentials_from_secret,
    kie_connection_for,
)
from deployunits.engines.errors import (
    EngineError,
    EngineNotFound,
    EngineRefused,
    EngineUnauthorized,
    EngineUnavailable,
    ResourceProblem,
    classify,
)
from deployunits.engines.forward import (
    Camunda7Forwarder,
    ForwardedAnswer,
    NotForwardable,
    forwardable,
)
from deployunits.engines.kie import (
    KieServerClient,
    KieServerConnection,
    MissingKjar,
    classify_kie,
)

__all__ = [
    "BasicAuth",
    "BearerToken",
    "Camunda7Client",
    "Camunda7Connection",
    "Camunda7Forwarder",
    "Credentials",
    "DeploymentDefinitions",
    "EngineError",
    "EngineNotFound",
    "EngineRefused",
    "EngineSettingsError",
    "EngineUnauthorized",
    "EngineUnavailable",
    "ForwardedAnswer",
    "KieServerClient",
    "KieServerConnection",
    "MissingKjar",
    "NewDeployment",
    "NewResource",
    "NotForwardable",
    "ResourceProblem",
    "classify",
    "classify_kie",
    "connection_for",
    "credentials_from_secret",
    "forwardable",
    "kie_connection_for",
]
