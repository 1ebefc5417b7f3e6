"""Camunda wire format: dates, DTOs of cached units, media types, Content-Disposition, errors."""

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from deployunits.api.auth import Access, Caller, Decision, Verdict
from deployunits.api.cache import CachedUnit
from deployunits.api.camunda import errors, schemas, wire
from deployunits.api.camunda.service import failure, parse_problems
from deployunits.constants import ACTIVATION_TIME_ANNOTATION
from deployunits.models.deploymentunit import DeploymentUnitSpec, DeploymentUnitStatus


def make_unit(status: dict[str, object], **spec: object) -> CachedUnit:
    return CachedUnit(
        namespace="ns",
        name="u",
        uid="uid",
        resource_version=1,
        generation=1,
        deleting=False,
        annotations={},
        spec=DeploymentUnitSpec.model_validate(
            {
                "deploymentId": "dep-1",
                "resources": {"inline": [{"name": "a.bpmn", "content": "<x/>"}]},
                **spec,
            }
        ),
        status=DeploymentUnitStatus.model_validate(status),
    )


SHA = "0" * 64
DEPLOYED = {
    "status": "DEPLOYED",
    "observedGeneration": 1,
    "deploymentTime": "2026-11-22T23:15:14Z",
    "resources": [
        {"id": "r1", "name": "invoice.bpmn", "sha256": SHA, "size": 3},
        {"id": "r2", "name": "invoice.png", "sha256": SHA, "size": 3},
        {"id": "r3", "name": "dish.dmn", "sha256": SHA, "size": 3},
    ],
    "definitions": [
        {
            "kind": "process",
            "id": "invoice:3:x",
            "key": "invoice",
            "name": "Invoice",
            "version": 3,
            "resource": "invoice.bpmn",
            "category": "http://bpmn.io/schema/bpmn",
            "historyTimeToLive": 30,
            "versionTag": "v1",
            "startable": False,
        },
        {
            "kind": "decision",
            "id": "dish:1:y",
            "key": "dish",
            "version": 1,
            "resource": "dish.dmn",
            "decisionRequirementsKey": "drd",
        },
        {
            "kind": "decision-requirements",
            "id": "drd:1:z",
            "key": "drd",
            "name": "DRD",
            "version": 1,
            "resource": "dish.dmn",
        },
    ],
}


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (datetime(2026, 11, 22, 23, 15, 14, tzinfo=UTC), "2026-11-22T23:15:14.000+0000"),
        (datetime(2013, 1, 23, 14, 42, 45, 123456, tzinfo=UTC), "2013-01-23T14:42:45.123+0000"),
        (
            datetime(2013, 1, 23, 16, 42, 45, tzinfo=timezone(timedelta(hours=2))),
            "2013-01-23T14:42:45.000+0000",
        ),
        (None, None),
    ],
)
def test_dates_are_written_as_camunda_writes_them(value: datetime | None, text: str | None) -> None:
    assert wire.format_date(value) == text


def test_dates_are_read_with_offsets() -> None:
    parsed = wire.parse_date("2013-01-23T14:42:45.000+0200")
    assert parsed == datetime(2013, 1, 23, 12, 42, 45, tzinfo=UTC)
    assert wire.parse_date("2013-01-23T14:42:45.5+02:00") == parsed + timedelta(milliseconds=500)
    for bad in ("2013-01-23", "2013-01-23T14:42:45Z", '"2013-01-23T14:42:45.000+0200"'):
        with pytest.raises(ValueError, match="not a date"):
            wire.parse_date(bad)


def test_deployment_dto_has_every_key_in_order() -> None:
    unit = make_unit(DEPLOYED, name="invoice")
    dto = wire.deployment_dto(unit)
    assert list(dto) == ["links", "id", "name", "source", "deploymentTime", "tenantId"]
    assert dto == {
        "links": [],
        "id": "dep-1",
        "name": "invoice",
        "source": None,
        "deploymentTime": "2026-11-22T23:15:14.000+0000",
        "tenantId": None,
    }
    schemas.DeploymentDto.model_validate(dto)


def test_deployment_with_definitions() -> None:
    unit = make_unit(DEPLOYED, name="invoice", tenantId="t1")
    links = wire.self_link("http://h/engine-rest", "dep-1")
    dto = wire.deployment_with_definitions(unit, links)
    schemas.DeploymentWithDefinitionsDto.model_validate(dto)
    assert dto["links"] == [
        {"method": "GET", "href": "http://h/engine-rest/deployment/dep-1", "rel": "self"}
    ]
    process = dto["deployedProcessDefinitions"]["invoice:3:x"]
    assert process == {
        "id": "invoice:3:x",
        "key": "invoice",
        "category": "http://bpmn.io/schema/bpmn",
        "description": None,
        "name": "Invoice",
        "version": 3,
        "resource": "invoice.bpmn",
        "deploymentId": "dep-1",
        "diagram": "invoice.png",
        "suspended": False,
        "tenantId": "t1",
        "versionTag": "v1",
        "historyTimeToLive": 30,
        "startableInTasklist": False,
    }
    decision = dto["deployedDecisionDefinitions"]["dish:1:y"]
    assert decision["decisionRequirementsDefinitionId"] == "drd:1:z"
    assert decision["decisionRequirementsDefinitionKey"] == "drd"
    assert list(decision)[-2:] == ["historyTimeToLive", "versionTag"]
    assert dto["deployedCaseDefinitions"] is None
    assert list(dto["deployedDecisionRequirementsDefinitions"]["drd:1:z"]) == [
        "id",
        "key",
        "category",
        "name",
        "version",
        "resource",
        "deploymentId",
        "tenantId",
    ]


def test_bodies_are_written_by_the_openapi_models() -> None:
    unit = make_unit(DEPLOYED, name="rechnung ä\u2028", tenantId="t1")
    links = wire.self_link("http://h/engine-rest", "dep-1")
    listed = json.loads(schemas.deployments_json([wire.deployment(unit)]))
    assert listed == [wire.deployment_dto(unit)]
    with_definitions = wire.deployment_with_definitions(unit, links)
    bodies = [
        (schemas.DeploymentDto, listed[0]),
        (schemas.DeploymentWithDefinitionsDto, with_definitions),
        (
            schemas.ProcessDefinitionDto,
            with_definitions["deployedProcessDefinitions"]["invoice:3:x"],
        ),
        (
            schemas.DecisionDefinitionDto,
            with_definitions["deployedDecisionDefinitions"]["dish:1:y"],
        ),
        (
            schemas.DeploymentResourceDto,
            json.loads(schemas.resources_json(wire.resources(unit)))[0],
        ),
        (
            schemas.AuthorizationExceptionDto,
            errors.refused(Decision(Verdict.FORBIDDEN, Access("n", "get"))).body(),
        ),
    ]
    for model, body in bodies:
        # Every property of the OpenAPI schema, in its order, and nothing else.
        assert list(body) == list(model.model_json_schema(by_alias=True)["properties"])


def test_a_duplicate_answer_has_null_maps_and_a_future_activation_shows_unsuspended() -> None:
    unit = make_unit(DEPLOYED)
    dto = wire.deployment_with_definitions(unit, [], with_definitions=False)
    assert all(dto[k] is None for k in dto if k.startswith("deployed"))
    suspended = replace(unit, annotations={ACTIVATION_TIME_ANNOTATION: "2030-01-01T00:00:00Z"})
    maps = wire.definitions_maps(suspended)
    # Camunda 7.24's create answer shows `false` (issue 16, item 7).
    assert maps["deployedProcessDefinitions"]["invoice:3:x"]["suspended"] is False


@pytest.mark.parametrize(
    ("resource", "key", "names", "diagram"),
    [
        ("a.bpmn", "p", ["a.bpmn", "a.p.png", "a.png"], "a.p.png"),
        ("a.bpmn", "p", ["a.bpmn", "a.png"], "a.png"),
        ("a.bpmn20.xml", "p", ["a.bpmn20.xml", "a.svg"], "a.svg"),
        ("a.bpmn", "p", ["a.bpmn", "a.jpeg"], None),
    ],
)
def test_diagrams(resource: str, key: str, names: list[str], diagram: str | None) -> None:
    assert wire.diagram_of(resource, key, names) == diagram


@pytest.mark.parametrize(
    ("name", "media_type"),
    [
        ("p.bpmn", "application/xml"),
        ("p.cmmn", "application/xml"),
        ("d.dmn", "application/xml"),
        ("x.xml", "application/xml"),
        ("f.json", "application/json"),
        ("i.png", "image/png"),
        ("i.jpe", "image/jpeg"),
        ("i.svg", "image/svg+xml"),
        ("i.tif", "image/tiff"),
        ("s.groovy", "text/plain"),
        ("s.py", "text/plain"),
        ("p.html", "text/html"),
        ("n.txt", "text/plain"),
        ("P.BPMN", "application/octet-stream"),
        ("noext", "application/octet-stream"),
        ("dir.v1/file", "application/octet-stream"),
        ("file.", "application/octet-stream"),
    ],
)
def test_media_types_by_extension(name: str, media_type: str) -> None:
    assert wire.media_type(name) == media_type


@pytest.mark.parametrize(
    ("name", "header"),
    [
        ("a.bpmn", "attachment; filename=\"a.bpmn\"; filename*=UTF-8''a.bpmn"),
        (
            "dir/sub/my file.bpmn",
            "attachment; filename=\"my file.bpmn\"; filename*=UTF-8''my%20file.bpmn",
        ),
        ("dir\\win.bpmn", "attachment; filename=\"win.bpmn\"; filename*=UTF-8''win.bpmn"),
        (
            "rechnung-ä~.bpmn",
            "attachment; filename=\"rechnung-ä~.bpmn\"; filename*=UTF-8''rechnung-%C3%A4%7E.bpmn",
        ),
        ("///", "attachment; filename=\"data\"; filename*=UTF-8''data"),
    ],
)
def test_content_disposition(name: str, header: str) -> None:
    assert wire.content_disposition(name) == header


def test_parse_problems_read_the_operator_message() -> None:
    message = (
        "resource 'a.bpmn' line 3, column 7: mismatched tag; "
        "resource 'b.dmn' line 1, column 2: not well-formed"
    )
    details = parse_problems(message)
    assert details["a.bpmn"]["errors"] == [
        {
            "message": "mismatched tag",
            "line": 3,
            "column": 7,
            "mainElementId": None,
            "\u0435lementIds": [],
        }
    ]
    assert details["b.dmn"]["errors"][0]["line"] == 1
    assert details["b.dmn"]["warnings"] == []


def test_failure_is_a_parse_exception_or_not_valid() -> None:
    condition = {
        "type": "Stalled",
        "status": "True",
        "reason": "InvalidContent",
        "lastTransitionTime": "2026-01-01T00:00:00Z",
        "message": "resource 'a.bpmn' line 2, column 3: unclosed token",
    }
    unit = make_unit({"status": "DEPLOY_FAILED", "conditions": [condition]})
    error = failure(unit)
    body = error.body()
    assert error.status == 400
    assert body["type"] == "ParseException"
    assert body["code"] == 0
    assert "a.bpmn" in body["message"]
    schemas.ParseExceptionDto.model_validate(body)
    policy = make_unit(
        {
            "status": "DEPLOY_FAILED",
            "conditions": [
                {**condition, "reason": "Refused", "message": "custom code is not allowed"}
            ],
        }
    )
    assert failure(policy).body() == {
        "type": "NotValidException",
        "message": "custom code is not allowed",
        "code": 0,
    }


def test_refusals() -> None:
    access = Access(namespace="ns", verb="create")
    unauthenticated = errors.refused(Decision(Verdict.UNAUTHENTICATED, access, reason="no token"))
    assert unauthenticated.status == 401
    assert "WWW-Authenticate" in unauthenticated.headers
    forbidden = errors.refused(Decision(Verdict.FORBIDDEN, access, Caller("alice")))
    body = forbidden.body()
    assert forbidden.status == 403
    schemas.AuthorizationExceptionDto.model_validate(body)
    assert body["message"] == (
        "The user with id 'alice' does not have 'CREATE' permission on resource 'Deployment'."
    )
    assert body["missingAuthorizations"] == [
        {"permissionName": "CREATE", "resourceName": "Deployment", "resourceId": None}
    ]


def test_unavailable_carries_retry_after() -> None:
    error = errors.unavailable("down")
    assert error.status == 503
    assert error.headers["Retry-After"] == "5"
    assert set(error.body()) == {"type", "message", "code"}
