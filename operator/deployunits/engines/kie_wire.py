"""KIE Server REST bodies the operator sends and reads, as pydantic models (the server's JSON).

The server writes kebab-case keys (`container-id`, `release-id`) and wraps most answers in a
ServiceResponse (`type`, `msg`, `result`); the query endpoints answer bare lists.
"""

from enum import StrEnum
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field


def _kebab(name: str) -> str:
    return name.replace("_", "-")


class KieModel(BaseModel):
    """A body of the KIE Server's REST API: kebab-case on the wire, unknown fields ignored."""

    model_config = ConfigDict(
        alias_generator=_kebab, populate_by_name=True, extra="ignore", frozen=True
    )


class ReleaseId(KieModel):
    """A kjar's Maven coordinates (ReleaseId)."""

    group_id: str
    artifact_id: str
    version: str

    def __str__(self) -> str:
        return f"{self.group_id}:{self.artifact_id}:{self.version}"


class ConfigItem(KieModel):
    """KieServerConfigItem: one setting of a container (strategy, kbase, ksession)."""

    # The server writes these three in camelCase, unlike the rest of the body.
    model_config = ConfigDict(alias_generator=None, populate_by_name=True)

    itemName: str  # noqa: N815 - the wire's own spelling
    itemValue: str  # noqa: N815
    itemType: str = "java.lang.String"  # noqa: N815


class ContainerStatus(StrEnum):
    """KieContainerStatus."""

    CREATING = "CREATING"
    STARTED = "STARTED"
    FAILED = "FAILED"
    DISPOSING = "DISPOSING"
    STOPPED = "STOPPED"
    DEACTIVATED = "DEACTIVATED"


class Message(KieModel):
    """One message of the server or a container: its severity and its lines."""

    severity: str | None = None
    content: list[str] = Field(default_factory=list)


class Container(KieModel):
    """KieContainerResource: a container as the server describes it, or as PUT sends it."""

    container_id: str
    release_id: ReleaseId | None = None
    resolved_release_id: ReleaseId | None = None
    status: ContainerStatus | None = None
    config_items: list[ConfigItem] = Field(default_factory=list)
    messages: list[Message] = Field(default_factory=list)

    def said(self) -> str:
        """The container's messages, one line each (what the server says of its start)."""
        return "; ".join(
            " ".join(line.strip() for line in m.content if line.strip()) for m in self.messages
        )


class ServerInfo(KieModel):
    """KieServerInfo: what GET / answers."""

    id: str | None = None
    version: str
    name: str | None = None
    capabilities: list[str] = Field(default_factory=list)
    messages: list[Message] = Field(default_factory=list)


class ContainerList(KieModel):
    """KieContainerResourceList."""

    kie_container: list[Container] | None = None


class ServiceResult(KieModel):
    """ServiceResponse's `result`: one of the shapes the operator reads."""

    kie_server_info: ServerInfo | None = None
    kie_container: Container | None = None
    kie_containers: ContainerList | None = None


class ServiceResponse(KieModel):
    """The envelope of most answers: SUCCESS or FAILURE, a message, and the result."""

    type: str
    msg: str | None = None
    result: ServiceResult | None = None


class ProcessDefinition(KieModel):
    """One process definition of a container, as the query endpoint lists it."""

    id: str = Field(validation_alias=AliasChoices("process-id", "id"))
    name: str | None = Field(default=None, validation_alias=AliasChoices("process-name", "name"))
    version: str | None = Field(
        default=None, validation_alias=AliasChoices("process-version", "version")
    )
    package: str | None = None
    container_id: str | None = None
    #: Filled by the definition's own endpoint; the listing leaves it out.
    process_variables: dict[str, str] | None = None


class ProcessDefinitionList(KieModel):
    """ProcessDefinitionList: GET /queries/containers/{id}/processes/definitions."""

    #: null for a container the server does not know.
    processes: list[ProcessDefinition] | None = None


class VariablesDefinition(KieModel):
    """VariablesDefinition: a process's variables, name → type."""

    variables: dict[str, str] = Field(default_factory=dict)


class ProcessInstance(KieModel):
    """One process instance as the query endpoint lists it."""

    id: int = Field(validation_alias=AliasChoices("process-instance-id", "id"))
    process_id: str | None = None
    state: int | None = Field(
        default=None, validation_alias=AliasChoices("process-instance-state", "state")
    )


class ProcessInstanceList(KieModel):
    """ProcessInstanceList."""

    process_instance: list[ProcessInstance] | None = None


def container_body(
    container_id: str, release: ReleaseId, items: list[ConfigItem]
) -> dict[str, Any]:
    """What PUT /containers/{id} sends."""
    return {
        "container-id": container_id,
        "release-id": release.model_dump(by_alias=True),
        "config-items": [item.model_dump() for item in items],
    }
