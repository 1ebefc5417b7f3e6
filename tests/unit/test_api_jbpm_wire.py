"""The jBPM wire format compared field by field with the reference's examples; negotiation;
error bodies; deployment descriptors."""

import json

import pytest

from deployunits.api.auth import Access, Caller, Decision, Verdict
from deployunits.api.jbpm import wire
from deployunits.api.jbpm.errors import JbpmError, refused
from deployunits.api.jbpm.wire import (
    DeploymentJobResult,
    JaxbDeploymentStatus,
    JaxbDeploymentUnit,
    JaxbDeploymentUnitList,
    ProcessDefinition,
    ProcessDefinitionList,
    RequestStatus,
    RestRequestException,
)
from deployunits.models.deploymentunit import JobOperation, RuntimeStrategy
from tests.support import jbpm

ACCEPTED = DeploymentJobResult(
    identifier=32,
    operation=JobOperation.DEPLOY,
    deployment_unit=JaxbDeploymentUnit(
        group_id="org.kie.example",
        artifact_id="project1",
        version="1.0.0-SNAPSHOT",
        strategy=RuntimeStrategy.PER_PROCESS_INSTANCE,
        status=JaxbDeploymentStatus.ACCEPTED,
    ),
    success=True,
    explanation="deploy job accepted.",
)


def test_accepted_job_result_xml_matches_the_reference() -> None:
    text = wire.to_xml(ACCEPTED)
    assert text.startswith(wire.XML_DECLARATION)
    assert text.removeprefix(wire.XML_DECLARATION) == jbpm.ACCEPTED_XML
    ours, reference = jbpm.parse_xml(text), jbpm.parse_xml(jbpm.ACCEPTED_XML)
    assert jbpm.xml_fields(ours) == jbpm.xml_fields(reference)
    assert jbpm.child_order(ours) == jbpm.JOB_FIELDS
    unit = ours.find("deploymentUnit")
    assert unit is not None
    assert jbpm.child_order(unit) == ["groupId", "artifactId", "version", "strategy", "status"]


def test_accepted_job_result_json_matches_the_reference() -> None:
    body, media_type = wire.render(ACCEPTED, json_wanted=True)
    assert media_type == "application/json"
    ours = json.loads(body)
    reference = jbpm.reference_json()
    assert ours == reference
    assert list(ours) == jbpm.JOB_FIELDS == list(reference)
    assert list(ours["deploymentUnit"]) == jbpm.UNIT_FIELDS == list(reference["deploymentUnit"])
    for field, value in reference["deploymentUnit"].items():
        assert ours["deploymentUnit"][field] == value, field


def test_refused_job_result_keeps_nulls_in_json_and_drops_them_in_xml() -> None:
    refused_result = DeploymentJobResult(
        identifier=None,
        operation=JobOperation.UNDEPLOY,
        deployment_unit=JaxbDeploymentUnit("g", "a", "v", kbase_name="", ksession_name="ks"),
        success=False,
        explanation="x < y & z",
    )
    data = wire.to_json(refused_result)
    assert data["identifier"] is None
    assert data["deploymentUnit"] == {
        "groupId": "g",
        "artifactId": "a",
        "version": "v",
        "kbaseName": "",
        "ksessionName": "ks",
        "strategy": None,
        "status": None,
    }
    root = jbpm.parse_xml(wire.to_xml(refused_result))
    assert jbpm.child_order(root) == ["operation", "deploymentUnit", "success", "explanation"]
    assert jbpm.xml_fields(root) == {
        "operation": "UNDEPLOY",
        "deploymentUnit": {
            "groupId": "g",
            "artifactId": "a",
            "version": "v",
            "kbaseName": "",
            "ksessionName": "ks",
        },
        "success": "false",
        "explanation": "x < y & z",
    }


def test_unit_and_lists() -> None:
    unit = JaxbDeploymentUnit(
        "g", "a", "v", "kb", None, RuntimeStrategy.SINGLETON, JaxbDeploymentStatus.DEPLOYED
    )
    root = jbpm.parse_xml(wire.to_xml(unit))
    assert root.tag == "deployment-unit"
    assert "identifier" not in jbpm.xml_fields(root)
    listed = JaxbDeploymentUnitList([unit, unit], 1, 2)
    root = jbpm.parse_xml(wire.to_xml(listed))
    assert root.tag == "deployment-unit-list"
    assert jbpm.child_order(root) == [
        "deployment-unit",
        "deployment-unit",
        "page-number",
        "page-size",
    ]
    assert wire.to_json(JaxbDeploymentUnitList([unit])) == {
        "deploymentUnitList": [wire.unit_json(unit)],
        "pageNumber": None,
        "pageSize": None,
    }
    assert jbpm.child_order(jbpm.parse_xml(wire.to_xml(JaxbDeploymentUnitList([])))) == []


def test_process_definition_list() -> None:
    definition = ProcessDefinition("p1", "Process One", "1.0", "org.acme", "g:a:v")
    listed = ProcessDefinitionList([definition], 1, 10)
    assert wire.to_json(listed) == {
        "processDefinitionList": [
            {
                "id": "p1",
                "name": "Process One",
                "version": "1.0",
                "packageName": "org.acme",
                "deploymentId": "g:a:v",
                "forms": {},
                "variables": {},
            }
        ],
        "pageNumber": 1,
        "pageSize": 10,
    }
    root = jbpm.parse_xml(wire.to_xml(listed))
    assert root.tag == "process-definition-list"
    item = root.find("process-definition")
    assert item is not None
    assert jbpm.child_order(item) == [
        "id",
        "name",
        "version",
        "package-name",
        "deployment-id",
        "forms",
        "variables",
    ]


def test_process_variables_are_a_map_in_the_engines_order() -> None:
    variables = (("amount", "java.lang.Integer"), ("employee", "String"), ("reason", "String"))
    definition = ProcessDefinition("p1", None, None, None, "g:a:v", variables)
    listed = ProcessDefinitionList([definition])
    # java.util.HashMap's order for these keys: buckets 1, 2 and 12 of 16.
    order = ["reason", "amount", "employee"]
    body = wire.to_json(listed)["processDefinitionList"][0]["variables"]
    assert list(body.items()) == [(name, dict(variables)[name]) for name in order]
    item = jbpm.parse_xml(wire.to_xml(listed)).find("process-definition")
    assert item is not None
    entries = item.findall("variables/entry")
    assert [(e.findtext("key"), e.findtext("value")) for e in entries] == list(body.items())
    assert [jbpm.child_order(e) for e in entries] == [["key", "value"]] * 3


@pytest.mark.parametrize(
    ("accept", "json_wanted"),
    [
        (None, False),
        ("", False),
        ("application/json", True),
        ("application/xml", False),
        ("*/*", False),
        ("text/html", False),
        ("application/json, application/xml", False),  # a tie: the first variant, XML
        ("application/xml;q=0.5, application/json", True),
        ("application/xml;q=.5, application/json;q=.9", True),  # the engine's q=. fix
        ("application/json;q=0.4, */*;q=0.5", False),
        ("application/*;q=0.2, application/json;q=0.3", True),
    ],
)
def test_negotiation(accept: str | None, json_wanted: bool) -> None:
    assert wire.prefers_json(accept) is json_wanted


def test_error_body_is_formatted_xml_without_a_trace() -> None:
    error = JbpmError(400, "Runtime strategy 'X' does not exist.")
    text = wire.to_xml(error.body("http://h/business-central/rest/deployment/a:b:c/deploy"))
    assert text.splitlines()[1:] == [
        "<exception>",
        "    <status>BAD_REQUEST</status>",
        "    <url>http://h/business-central/rest/deployment/a:b:c/deploy</url>",
        "    <message>KieRemoteRestOperationException thrown with message "
        "'Runtime strategy 'X' does not exist.'</message>",
        "</exception>",
    ]
    assert "stackTrace" not in text
    bare = wire.to_xml(RestRequestException(RequestStatus.NOT_FOUND, "u"))
    assert "<message>" not in bare


def test_refusals_render_401_and_403() -> None:
    access = Access(namespace="ns", verb="create")
    unauthenticated = refused(Decision(Verdict.UNAUTHENTICATED, access, reason="no bearer token"))
    assert unauthenticated.status == 401
    assert unauthenticated.headers["WWW-Authenticate"].startswith("Bearer")
    assert unauthenticated.body("u").status is RequestStatus.FAILURE
    forbidden = refused(Decision(Verdict.FORBIDDEN, access, Caller("alice")))
    assert forbidden.status == 403
    body = forbidden.body("u")
    assert body.status is RequestStatus.FORBIDDEN
    assert body.message is not None and "'alice' may not create deploymentunits" in body.message


@pytest.mark.parametrize(
    ("body", "content_type", "strategy"),
    [
        (b"", "application/xml", None),
        (
            b"<deployment-descriptor><persistence-unit>pu</persistence-unit>"
            b"<runtime-strategy>PER_REQUEST</runtime-strategy><audit-mode>JMS</audit-mode>"
            b"<required-role>r</required-role></deployment-descriptor>",
            "application/xml",
            RuntimeStrategy.PER_REQUEST,
        ),
        (b"<deployment-descriptor/>", "text/xml", None),
        (
            b'{"runtimeStrategy":"PER_PROCESS_INSTANCE","globals":[]}',
            "application/json",
            RuntimeStrategy.PER_PROCESS_INSTANCE,
        ),
        (b"{}", "application/json; charset=utf-8", None),
    ],
)
def test_descriptors(body: bytes, content_type: str, strategy: RuntimeStrategy | None) -> None:
    descriptor = wire.parse_descriptor(body, content_type)
    if not body:
        assert descriptor is None
    else:
        assert descriptor is not None and descriptor.runtime_strategy is strategy


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"<other/>", "application/xml"),
        (
            b"<deployment-descriptor><runtime-strategy>DAILY</runtime-strategy></deployment-descriptor>",
            "application/xml",
        ),
        (b"<deployment-descriptor>", "application/xml"),
        (b'<!DOCTYPE x [<!ENTITY e "e">]><deployment-descriptor/>', "application/xml"),
        (b"[1]", "application/json"),
        (b"{", "application/json"),
        (b'{"auditMode":"FILE"}', "application/json"),
    ],
)
def test_bad_descriptors(body: bytes, content_type: str) -> None:
    with pytest.raises(wire.DescriptorError):
        wire.parse_descriptor(body, content_type)
