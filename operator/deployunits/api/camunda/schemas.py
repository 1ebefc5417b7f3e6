"""Camunda's wire schemas (DTOs): the one source of both the OpenAPI document and the bodies.

The shim builds them from values it computed itself (`wire.py`, `errors.py`), so they are made
with `model_construct` (or `trusted`, on the hot list path) and never validated on the way out;
`dump` and the `*_json` functions write them by alias, every key present (nulls included) in
the order the fields are declared here, which is the order the engine writes them in. Separate
from the custom resources' models.
"""

from collections.abc import Sequence
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from pydantic.alias_generators import to_camel

_DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}[+-]\d{4}$"
_DATE_EXAMPLE = "2013-01-23T14:42:45.000+0200"


class _Dto(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    @classmethod
    def trusted(cls, **values: Any) -> Self:
        """A DTO of every field's value, computed by the shim: `model_construct` without its
        alias and default handling, which made up most of the cost of a listed deployment."""
        dto = cls.__new__(cls)
        object.__setattr__(dto, "__dict__", values)
        object.__setattr__(dto, "__pydantic_fields_set__", set(values))
        object.__setattr__(dto, "__pydantic_extra__", None)
        object.__setattr__(dto, "__pydantic_private__", None)
        return dto

    def dump(self) -> dict[str, Any]:
        """The body as JSON data, keyed by the wire's names."""
        return self.model_dump(by_alias=True, mode="json")


class AtomLink(_Dto):
    """A link to a related resource."""

    method: str = Field(examples=["GET"])
    href: str
    rel: str = Field(examples=["self"])


class DeploymentDto(_Dto):
    """A deployment (DeploymentDto)."""

    links: list[AtomLink] = Field(description="Empty on reads; one `self` link after create.")
    id: str
    name: str | None
    source: str | None
    deployment_time: str | None = Field(
        pattern=_DATE_PATTERN,
        examples=[_DATE_EXAMPLE],
        description="yyyy-MM-dd'T'HH:mm:ss.SSSZ",
    )
    tenant_id: str | None


class ProcessDefinitionDto(_Dto):
    """A process definition deployed by the deployment."""

    id: str
    key: str
    category: str | None
    description: str | None
    name: str | None
    version: int
    resource: str
    deployment_id: str
    diagram: str | None
    suspended: bool
    tenant_id: str | None
    version_tag: str | None
    history_time_to_live: int | None
    startable_in_tasklist: bool


class _DefinitionDto(_Dto):
    """What case, decision and decision requirements definitions share, in the wire's order."""

    id: str
    key: str
    category: str | None
    name: str | None
    version: int
    resource: str
    deployment_id: str
    tenant_id: str | None


class CaseDefinitionDto(_DefinitionDto):
    """A case definition deployed by the deployment."""

    history_time_to_live: int | None


class DecisionDefinitionDto(_DefinitionDto):
    """A decision definition deployed by the deployment."""

    decision_requirements_definition_id: str | None
    decision_requirements_definition_key: str | None
    history_time_to_live: int | None
    version_tag: str | None


class DecisionRequirementsDefinitionDto(_DefinitionDto):
    """A decision requirements definition deployed by the deployment."""


class DeploymentWithDefinitionsDto(DeploymentDto):
    """A deployment and what it deployed, keyed by definition id (null when none of a kind)."""

    deployed_process_definitions: dict[str, ProcessDefinitionDto] | None
    deployed_case_definitions: dict[str, CaseDefinitionDto] | None
    deployed_decision_definitions: dict[str, DecisionDefinitionDto] | None
    deployed_decision_requirements_definitions: dict[str, DecisionRequirementsDefinitionDto] | None


class DeploymentResourceDto(_Dto):
    """One resource of a deployment."""

    id: str
    name: str
    deployment_id: str


class CountResultDto(_Dto):
    """A number of matches."""

    count: int


class RedeploymentDto(BaseModel):
    """Which resources of the deployment to deploy again (all when both lists are empty)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")

    resource_ids: list[str] | None = None
    resource_names: list[str] | None = None
    source: str | None = None


class ExceptionDto(_Dto):
    """An error: the exception's simple class name, its message, the engine's error code."""

    type: str = Field(examples=["InvalidRequestException"])
    message: str
    code: int | None


class MissingAuthorizationDto(_Dto):
    """A permission the caller lacks."""

    permission_name: str
    resource_name: str
    resource_id: str | None


class AuthorizationExceptionDto(ExceptionDto):
    """403: the caller lacks a permission."""

    user_id: str
    resource_name: str | None
    resource_id: str | None
    permission_name: str | None
    missing_authorizations: list[MissingAuthorizationDto]


class ProblemDto(_Dto):
    """One parse problem; the key of the element ids starts with a Cyrillic U+0435."""

    message: str
    line: int
    column: int
    main_element_id: str | None
    element_ids: list[str] = Field(alias="\u0435lementIds")


class ResourceReportDto(_Dto):
    """The problems found in one resource."""

    errors: list[ProblemDto]
    warnings: list[ProblemDto]


class ParseExceptionDto(ExceptionDto):
    """400 on create: the resources could not be parsed."""

    details: dict[str, ResourceReportDto]


_DEPLOYMENTS = TypeAdapter(list[DeploymentDto])
_RESOURCES = TypeAdapter(list[DeploymentResourceDto])


def dump_json(body: _Dto) -> bytes:
    """One DTO as the JSON bytes of a body."""
    return body.model_dump_json(by_alias=True).encode()


def deployments_json(bodies: Sequence[DeploymentDto]) -> bytes:
    """A list of deployments as the JSON bytes of a body (one serializer call for the page)."""
    return _DEPLOYMENTS.dump_json(list(bodies), by_alias=True)


def resources_json(bodies: Sequence[DeploymentResourceDto]) -> bytes:
    """A list of resources as the JSON bytes of a body."""
    return _RESOURCES.dump_json(list(bodies), by_alias=True)
