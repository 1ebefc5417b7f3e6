"""Camunda's error bodies ({"type", "message", "code"} and its variants) and their statuses.

Every body is one of the DTOs of `schemas.py`; `from_exception` renders the dialect-neutral
failures of `api/errors.py` in this shape.
"""

import re
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi.responses import JSONResponse

from deployunits import constants
from deployunits.api import errors
from deployunits.api.auth import Decision
from deployunits.api.camunda.schemas import (
    AuthorizationExceptionDto,
    ExceptionDto,
    MissingAuthorizationDto,
    ParseExceptionDto,
    ProblemDto,
    ResourceReportDto,
)
from deployunits.content.validation import InvalidModel, Problem
from deployunits.content.xmlsafe import ContentError
from deployunits.models.deploymentunit import EngineProblem

#: One problem in the operator's message: `resource '<n>' line L, column C: <msg>`.
_PROBLEM = re.compile(
    r"resource '(?P<name>[^']*)'(?: line (?P<line>\d+)(?:, column (?P<column>\d+))?)?: "
    r"(?P<message>.*?)(?=(?:;\s*|\n)resource '|\Z)",
    re.DOTALL,
)
#: Permission names Camunda would check for each Kubernetes verb.
_PERMISSIONS = {"get": "READ", "list": "READ", "create": "CREATE", "delete": "DELETE"}


class CamundaError(Exception):
    """An error answered in Camunda's ExceptionDto shape (or a subclass of it)."""

    def __init__(
        self, status: int, dto: ExceptionDto, *, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(dto.message)
        self.status = status
        self.dto = dto
        self.headers = dict(headers or {})

    @property
    def type(self) -> str:
        return self.dto.type

    @property
    def message(self) -> str:
        return self.dto.message

    @property
    def code(self) -> int | None:
        return self.dto.code

    def body(self) -> dict[str, Any]:
        return self.dto.dump()

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers or None)


def _error(
    status: int,
    type_: str,
    message: str,
    code: int | None = None,
    headers: Mapping[str, str] | None = None,
) -> CamundaError:
    dto = ExceptionDto.model_construct(type=type_, message=message, code=code)
    return CamundaError(status, dto, headers=headers)


def invalid_request(status: int, message: str) -> CamundaError:
    """The REST layer's InvalidRequestException (code null)."""
    return _error(status, "InvalidRequestException", message)


def no_engine(name: str, *, authenticating: bool) -> CamundaError:
    """A named engine that does not exist. Checked against Camunda 7.24: its REST layer answers
    400 "No process engine available"; with authentication on, its filter answers first, for
    every path under the engine and before checking credentials: 404 naming the engine."""
    if authenticating:
        return invalid_request(404, f"Process engine {name} not available")
    return invalid_request(400, "No process engine available")


def rest_exception(status: int, message: str) -> CamundaError:
    """The REST layer's RestException (code null)."""
    return _error(status, "RestException", message)


def engine_error(status: int, type_: str, message: str) -> CamundaError:
    """An engine exception (code 0, the engine's fallback code)."""
    return _error(status, type_, message, code=0)


def web_error(status: int, headers: Mapping[str, str] | None = None) -> CamundaError:
    """What the JAX-RS runtime raises for unmatched routes, methods and media types."""
    types = {
        404: ("NotFoundException", "HTTP 404 Not Found"),
        405: ("NotAllowedException", "HTTP 405 Method Not Allowed"),
        406: ("NotAcceptableException", "HTTP 406 Not Acceptable"),
        408: ("WebApplicationException", "HTTP 408 Request Timeout"),
        413: ("WebApplicationException", "HTTP 413 Request Entity Too Large"),
        415: ("NotSupportedException", "HTTP 415 Unsupported Media Type"),
    }
    type_, message = types.get(status, ("WebApplicationException", f"HTTP {status}"))
    return _error(status, type_, message, headers=headers)


def query_param_error() -> CamundaError:
    """A query parameter the JAX-RS runtime cannot convert (`maxResults=abc`): its 404, which the
    engine's mapper names QueryParamException, without naming the parameter."""
    return _error(404, "QueryParamException", "HTTP 404 Not Found")


def unavailable(message: str) -> CamundaError:
    """503 with Retry-After: the API server (the engine's database) cannot be reached."""
    return _error(503, "ProcessEngineException", message, headers=errors.RETRY_LATER)


def internal(message: str) -> CamundaError:
    """500 without a stack trace."""
    return engine_error(500, "ProcessEngineException", message)


def problems(message: str) -> dict[str, ResourceReportDto]:
    """ParseExceptionDto details from the operator's `resource '<n>' line L, column C: <msg>`."""
    details: dict[str, ResourceReportDto] = {}
    for match in _PROBLEM.finditer(message):
        report = details.setdefault(
            match["name"], ResourceReportDto.model_construct(errors=[], warnings=[])
        )
        report.errors.append(
            ProblemDto.model_construct(
                message=match["message"].strip(),
                line=int(match["line"] or 0),
                column=int(match["column"] or 0),
                main_element_id=None,
                element_ids=[],
            )
        )
    return details


def _problem_dto(problem: Problem | EngineProblem) -> ProblemDto:
    """One problem as the engine's ParseException lists it (0 for an unknown position)."""
    return ProblemDto.model_construct(
        message=problem.message,
        line=problem.line or 0,
        column=problem.column or 0,
        main_element_id=problem.main_element_id,
        element_ids=list(problem.element_ids),
    )


def refused_content(error: ContentError) -> CamundaError:
    """400 ParseException for one resource the shim's own check refused, with every problem's
    position and element ids (a single ContentError is one problem)."""
    found = (
        error.problems
        if isinstance(error, InvalidModel)
        else (
            Problem(
                error.message,
                error.line,
                error.column,
                error.element_id,
                (error.element_id,) if error.element_id else (),
            ),
        )
    )
    report = ResourceReportDto.model_construct(
        errors=[_problem_dto(problem) for problem in found], warnings=[]
    )
    return parse_exception({error.resource: report})


def parse_exception(details: Mapping[str, ResourceReportDto]) -> CamundaError:
    """400 ParseException: the resources of a create or redeploy do not parse."""
    lines = "".join(
        f"\n* {problem.message} | resource {name} | line {problem.line} | column {problem.column}"
        for name, report in details.items()
        for problem in report.errors
    )
    dto = ParseExceptionDto.model_construct(
        type="ParseException",
        message=f"ENGINE-09005 Could not parse BPMN process. Errors: {lines}",
        code=0,
        details=dict(details),
    )
    return CamundaError(400, dto)


#: The engines gateway's words for a refusal: `...: the engine refused (<status>): <type>: <...>`.
_ENGINE_REFUSAL = re.compile(
    r"the engine refused \((?P<status>[1-5]\d\d)\)"
    r"(?:: (?P<type>[A-Za-z_$][\w$.]*): )?(?P<said>.*)\Z",
    re.DOTALL,
)


def engine_refusal(message: str, found: Sequence[EngineProblem]) -> CamundaError | None:
    """The bound engine's own answer to a refused deployment, from the unit's record of it: its
    status, exception type and message, and a ParseException's problems by resource (None if
    the message is not the engine's refusal)."""
    match = _ENGINE_REFUSAL.search(message)
    if match is None:
        return None
    status, type_, said = (
        int(match["status"]),
        match["type"] or "ProcessEngineException",
        match["said"],
    )
    if type_ != "ParseException":
        return engine_error(status, type_, said)
    details: dict[str, ResourceReportDto] = {}
    for problem in found:
        report = details.setdefault(
            problem.resource or "", ResourceReportDto.model_construct(errors=[], warnings=[])
        )
        report.errors.append(_problem_dto(problem))
    dto = ParseExceptionDto.model_construct(type=type_, message=said, code=0, details=details)
    return CamundaError(status, dto)


def refused(decision: Decision, resource_id: str | None = None) -> CamundaError:
    """401 or 403 for a refused decision; 403 carries Camunda's AuthorizationException body."""
    refusal = errors.Refused(decision)
    if refusal.unauthenticated:
        return _error(
            401,
            "AuthenticationException",
            refusal.unauthenticated_message,
            headers={"WWW-Authenticate": 'Bearer realm="engine-rest"'},
        )
    user = refusal.user
    permission = _PERMISSIONS.get(decision.access.verb, decision.access.verb.upper())
    # Camunda's resource of the call: deployments, or the engine itself for forwarded calls.
    engine = decision.access.resource == constants.PROCESS_ENGINE_PLURAL
    resource = "ProcessEngine" if engine else "Deployment"
    target = f"{resource_id}' of type '{resource}" if resource_id else resource
    message = (
        f"The user with id '{user}' does not have '{permission}' permission on resource '{target}'."
    )
    dto = AuthorizationExceptionDto.model_construct(
        type="AuthorizationException",
        message=message,
        code=0,
        user_id=user,
        resource_name=resource,
        resource_id=resource_id,
        permission_name=permission,
        missing_authorizations=[
            MissingAuthorizationDto.model_construct(
                permission_name=permission, resource_name=resource, resource_id=resource_id
            )
        ],
    )
    return CamundaError(403, dto)


#: The Camunda error for anything a route, a dependency or the router raised.
from_exception = errors.Renderer(
    own=CamundaError,
    refused=refused,
    unavailable=unavailable,
    invalid=lambda: invalid_request(400, ""),
    unmatched=web_error,
    internal=internal,
).render
