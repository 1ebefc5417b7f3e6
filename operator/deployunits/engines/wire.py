"""Camunda 7 REST bodies the operator sends and reads, as pydantic models (the engine's JSON)."""

from datetime import datetime

from pydantic import AliasChoices, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class EngineModel(BaseModel):
    """A body of the engine's REST API: camelCase on the wire, unknown fields ignored."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True
    )


class EngineVersion(EngineModel):
    """GET /version."""

    version: str


class Deployment(EngineModel):
    """DeploymentDto: one deployment as the engine lists it."""

    id: str
    name: str | None = None
    source: str | None = None
    deployment_time: datetime
    tenant_id: str | None = None


class DefinitionBase(EngineModel):
    """The fields every kind of definition carries."""

    id: str
    key: str
    name: str | None = None
    version: int
    resource: str | None = None
    deployment_id: str
    tenant_id: str | None = None
    category: str | None = None


class ProcessDefinition(DefinitionBase):
    """ProcessDefinitionDto."""

    version_tag: str | None = None
    history_time_to_live: int | None = None
    suspended: bool = False
    startable_in_tasklist: bool | None = None


class DecisionDefinition(DefinitionBase):
    """DecisionDefinitionDto."""

    version_tag: str | None = None
    history_time_to_live: int | None = None
    decision_requirements_definition_id: str | None = None
    decision_requirements_definition_key: str | None = None


class CaseDefinition(DefinitionBase):
    """CaseDefinitionDto."""

    history_time_to_live: int | None = None


class DecisionRequirementsDefinition(DefinitionBase):
    """DecisionRequirementsDefinitionDto."""


class DeploymentWithDefinitions(Deployment):
    """The answer to POST /deployment/create: the deployment and what it defined, by id.

    A map is null when the deployment holds nothing of its kind.
    """

    deployed_process_definitions: dict[str, ProcessDefinition] | None = None
    deployed_decision_definitions: dict[str, DecisionDefinition] | None = None
    deployed_case_definitions: dict[str, CaseDefinition] | None = None
    deployed_decision_requirements_definitions: dict[str, DecisionRequirementsDefinition] | None = (
        None
    )


class DeploymentResource(EngineModel):
    """DeploymentResourceDto: one resource of a deployment (its bytes are under /data)."""

    id: str
    name: str
    deployment_id: str


class ProcessInstance(EngineModel):
    """ProcessInstanceDto, as POST /process-definition/key/{key}/start answers."""

    id: str
    definition_id: str
    business_key: str | None = None
    ended: bool = False
    suspended: bool = False
    tenant_id: str | None = None


class CountResult(EngineModel):
    """CountResultDto: what a /count answers."""

    count: int


class Problem(EngineModel):
    """ProblemDto: one parse error or warning, located in its resource."""

    message: str
    line: int | None = None
    column: int | None = None
    main_element_id: str | None = None
    # The engine writes this key with a Cyrillic e (U+0435), as ProblemDto's getter has it; the
    # Latin spelling is what its OpenAPI document promises, so both are read.
    element_ids: list[str] = Field(
        default_factory=list, validation_alias=AliasChoices("\u0435lementIds", "elementIds")
    )


class ResourceReport(EngineModel):
    """The problems of one resource in a ParseException answer."""

    errors: list[Problem] = Field(default_factory=list)
    warnings: list[Problem] = Field(default_factory=list)


class ExceptionBody(EngineModel):
    """ExceptionDto, or ParseExceptionDto when `details` is present: the engine's error body."""

    type: str | None = None
    message: str | None = None
    code: int | None = None
    details: dict[str, ResourceReport] | None = None


class StartInstance(EngineModel):
    """The body of POST /process-definition/key/{key}/start (only what the project needs)."""

    business_key: str | None = None
