"""The custom-code policy: which Camunda, jBPM, DMN and CMMN constructs count as custom code."""

from __future__ import annotations

from pathlib import Path

import pytest

from deployunits.content.policy import CustomCodeFinding, find_custom_code
from deployunits.content.xmlsafe import parse_xml

SAMPLES = Path(__file__).parent / "samples"

BPMN_NAMESPACES = (
    'xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"'
    ' xmlns:camunda="http://camunda.org/schema/1.0/bpmn"'
    ' xmlns:activiti="http://activiti.org/bpmn"'
    ' xmlns:drools="http://www.jboss.org/drools"'
    ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
)


def findings_in(name: str, data: bytes) -> list[str]:
    return [str(finding) for finding in find_custom_code(name, parse_xml(data, name))]


def in_process(body: str) -> list[str]:
    data = (
        f'<bpmn:definitions {BPMN_NAMESPACES} id="D"><bpmn:process id="P" isExecutable="true">'
        f"{body}</bpmn:process></bpmn:definitions>"
    ).encode()
    return findings_in("p.bpmn", data)


def in_dmn(body: str, *, expression_language: str | None = None) -> list[str]:
    language = f' expressionLanguage="{expression_language}"' if expression_language else ""
    data = (
        '<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/"'
        f' id="drd" name="DRD" namespace="http://camunda.org"{language}>{body}</definitions>'
    ).encode()
    return findings_in("d.dmn", data)


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


# Camunda BPMN constructs --------------------------------------------------------------------


def test_every_camunda_construct_in_a_modeler_file_is_listed_in_document_order() -> None:
    assert findings_in("custom_code.bpmn", sample("custom_code.bpmn")) == [
        "process 'customCode' camunda:executionListener event=start camunda:script"
        " scriptFormat=javascript",
        "startEvent 'StartEvent_1' camunda:formHandlerClass=com.acme.StartFormHandler",
        "scriptTask 'Task_Script' scriptFormat=groovy",
        "serviceTask 'Task_Class' camunda:class=com.acme.ChargeCard",
        "serviceTask 'Task_Delegate' camunda:delegateExpression=${mailer}",
        "serviceTask 'Task_Delegate' camunda:inputParameter name=subject camunda:script"
        " scriptFormat=groovy",
        "sendTask 'Task_Expression' camunda:expression=${ledger.book(execution)}",
        "userTask 'Task_Review' camunda:taskListener event=create class=com.acme.AssignReviewer",
        "userTask 'Task_Review' camunda:taskListener event=complete"
        " delegateExpression=${auditListener}",
        "userTask 'Task_Review' camunda:executionListener event=end"
        " expression=${metrics.count(execution)}",
        "callActivity 'Call_Sub' camunda:variableMappingClass=com.acme.Mapping",
        "endEvent 'EndEvent_Notify' messageEventDefinition camunda:class=com.acme.SendNotice",
        "sequenceFlow 'Flow_Scripted' conditionExpression language=groovy",
    ]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            '<bpmn:scriptTask id="Task_1"><bpmn:script>x</bpmn:script></bpmn:scriptTask>',
            "scriptTask 'Task_1'",
        ),
        (
            '<bpmn:serviceTask id="Task_2" camunda:class="com.acme.Foo" />',
            "serviceTask 'Task_2' camunda:class=com.acme.Foo",
        ),
        (
            '<bpmn:businessRuleTask id="Task_3" camunda:delegateExpression="${rules}" />',
            "businessRuleTask 'Task_3' camunda:delegateExpression=${rules}",
        ),
        (
            '<bpmn:serviceTask id="Task_4" camunda:expression="${svc.run()}" />',
            "serviceTask 'Task_4' camunda:expression=${svc.run()}",
        ),
        (
            '<bpmn:callActivity id="Call_1" calledElement="x"'
            ' camunda:variableMappingDelegateExpression="${mapper}" />',
            "callActivity 'Call_1' camunda:variableMappingDelegateExpression=${mapper}",
        ),
        (
            '<bpmn:serviceTask id="Task_5" activiti:class="com.acme.Legacy" />',
            "serviceTask 'Task_5' activiti:class=com.acme.Legacy",
        ),
    ],
    ids=["script-task", "class", "delegate-expression", "expression", "mapping", "activiti"],
)
def test_camunda_delegates_and_script_tasks_are_custom_code(body: str, expected: str) -> None:
    assert in_process(body) == [expected]


@pytest.mark.parametrize(
    ("listener", "expected"),
    [
        (
            '<camunda:executionListener class="com.acme.Audit" event="start" />',
            "camunda:executionListener event=start class=com.acme.Audit",
        ),
        (
            '<camunda:executionListener expression="${audit.log()}" event="end" />',
            "camunda:executionListener event=end expression=${audit.log()}",
        ),
        (
            '<camunda:taskListener delegateExpression="${assigner}" event="assignment" />',
            "camunda:taskListener event=assignment delegateExpression=${assigner}",
        ),
        (
            '<camunda:taskListener event="create"><camunda:script scriptFormat="python"'
            ' resource="deployment://assign.py" /></camunda:taskListener>',
            "camunda:taskListener event=create camunda:script scriptFormat=python",
        ),
    ],
    ids=["execution-class", "execution-expression", "task-delegate", "task-script"],
)
def test_listeners_are_custom_code_of_the_element_they_listen_on(
    listener: str, expected: str
) -> None:
    body = (
        f'<bpmn:userTask id="Task_L"><bpmn:extensionElements>{listener}'
        "</bpmn:extensionElements></bpmn:userTask>"
    )

    assert in_process(body) == [f"userTask 'Task_L' {expected}"]


def test_script_in_an_output_mapping_is_custom_code() -> None:
    body = (
        '<bpmn:serviceTask id="Task_IO" camunda:type="external" camunda:topic="t">'
        "<bpmn:extensionElements><camunda:inputOutput>"
        '<camunda:outputParameter name="total"><camunda:list><camunda:value>1</camunda:value>'
        '<camunda:script scriptFormat="javascript">a + b</camunda:script></camunda:list>'
        "</camunda:outputParameter></camunda:inputOutput></bpmn:extensionElements>"
        "</bpmn:serviceTask>"
    )

    assert in_process(body) == [
        "serviceTask 'Task_IO' camunda:outputParameter name=total camunda:list camunda:script"
        " scriptFormat=javascript"
    ]


def test_finding_carries_its_parts_and_category() -> None:
    data = sample("custom_code.bpmn")
    findings = find_custom_code("custom_code.bpmn", parse_xml(data, "custom_code.bpmn"))

    assert findings[3] == CustomCodeFinding(
        resource="custom_code.bpmn",
        element="serviceTask",
        element_id="Task_Class",
        detail="camunda:class=com.acme.ChargeCard",
        category="class",
    )
    assert {finding.category for finding in findings} == {"script", "class", "expression"}


def test_element_without_id_is_reported_under_its_nearest_identified_ancestor() -> None:
    body = '<bpmn:subProcess id="Sub_1"><bpmn:scriptTask scriptFormat="groovy" /></bpmn:subProcess>'

    assert in_process(body) == ["subProcess 'Sub_1' scriptTask scriptFormat=groovy"]


def test_deeply_nested_models_are_walked_without_recursion() -> None:
    depth = 5_000
    body = (
        "".join(f'<bpmn:subProcess id="S{level}">' for level in range(depth))
        + '<bpmn:scriptTask id="Deep" />'
        + "</bpmn:subProcess>" * depth
    )

    assert in_process(body) == ["scriptTask 'Deep'"]


# jBPM constructs ----------------------------------------------------------------------------


def test_jbpm_scripts_java_service_tasks_and_java_conditions_are_custom_code() -> None:
    assert findings_in("evaluation.bpmn2", sample("evaluation.bpmn2")) == [
        "scriptTask '_ScriptTask_Log' scriptFormat=http://www.java.com/java",
        "userTask '_UserTask_Self' drools:onEntry-script scriptFormat=http://www.java.com/java",
        "userTask '_UserTask_Self' drools:onExit-script scriptFormat=http://www.mvel.org/2.0",
        "serviceTask '_ServiceTask_Notify' implementation=Java",
        "sequenceFlow '_SequenceFlow_Yearly' conditionExpression language=http://www.java.com/java",
    ]


def test_jbpm_rule_condition_is_not_custom_code() -> None:
    body = (
        '<bpmn:sequenceFlow id="F" sourceRef="a" targetRef="b"><bpmn:conditionExpression'
        ' xsi:type="bpmn:tFormalExpression" language="http://www.jboss.org/drools/rule">'
        "eval(true)</bpmn:conditionExpression></bpmn:sequenceFlow>"
    )

    assert in_process(body) == []


# What is not custom code --------------------------------------------------------------------


def test_modeler_file_with_juel_conditions_external_tasks_and_forms_is_clean() -> None:
    assert findings_in("invoice.bpmn", sample("invoice.bpmn")) == []


def test_dmn_feel_decision_tables_are_clean() -> None:
    assert findings_in("dish.dmn", sample("dish.dmn")) == []


def test_cmmn_case_with_juel_sentry_is_clean() -> None:
    assert findings_in("claim.cmmn", sample("claim.cmmn")) == []


def test_other_vocabularies_yield_nothing() -> None:
    kmodule = (
        b'<kmodule xmlns="http://www.drools.org/xsd/kmodule"><kbase name="kb" packages="x">'
        b'<ksession name="ks" class="com.acme.Ignored" script="x"/></kbase></kmodule>'
    )

    assert findings_in("META-INF/kmodule.xml", kmodule) == []


@pytest.mark.parametrize(
    "language", ["feel", "FEEL", "juel", "https://www.omg.org/spec/DMN/20191111/FEEL/"]
)
def test_dmn_declarative_expression_languages_are_clean(language: str) -> None:
    body = (
        '<decision id="d"><literalExpression id="e" expressionLanguage="'
        f'{language}"><text>1</text></literalExpression></decision>'
    )

    assert in_dmn(body, expression_language=language) == []


# Script languages in DMN and CMMN ----------------------------------------------------------


def test_dmn_expression_in_a_script_language_is_custom_code() -> None:
    body = (
        '<decision id="dish" name="Dish"><decisionTable id="t"><input id="i">'
        '<inputExpression id="ie" typeRef="string" expressionLanguage="javascript">'
        "<text>season.toUpperCase()</text></inputExpression></input></decisionTable></decision>"
    )

    assert in_dmn(body) == ["decision 'dish' inputExpression expressionLanguage=javascript"]


def test_dmn_default_script_language_is_custom_code() -> None:
    assert in_dmn("", expression_language="groovy") == [
        "definitions 'drd' expressionLanguage=groovy"
    ]


def test_root_without_id_owns_its_findings() -> None:
    data = (
        b'<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/"'
        b' expressionLanguage="python" />'
    )

    assert findings_in("d.dmn", data) == ["definitions expressionLanguage=python"]


def test_cmmn_listener_and_script_sentry_are_custom_code() -> None:
    data = b"""<cmmn:definitions xmlns:cmmn="http://www.omg.org/spec/CMMN/20151109/MODEL"
        xmlns:camunda="http://camunda.org/schema/1.0/cmmn" id="d" targetNamespace="x">
      <cmmn:case id="c"><cmmn:casePlanModel id="M">
        <cmmn:humanTask id="H"><cmmn:extensionElements>
          <camunda:caseExecutionListener event="complete" class="com.acme.Done" />
        </cmmn:extensionElements></cmmn:humanTask>
        <cmmn:sentry id="S"><cmmn:ifPart id="I">
          <cmmn:condition id="C" language="groovy">approved == true</cmmn:condition>
        </cmmn:ifPart></cmmn:sentry>
      </cmmn:casePlanModel></cmmn:case>
    </cmmn:definitions>"""

    assert findings_in("c.cmmn", data) == [
        "humanTask 'H' camunda:caseExecutionListener event=complete class=com.acme.Done",
        "sentry 'S' condition language=groovy",
    ]
