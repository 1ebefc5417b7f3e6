"""Validation of models as the engines validate them: schema violations, dangling references.

Matrix: a valid BPMN, DMN and CMMN pass; an element in the wrong place (BPMN, DMN, CMMN) and a
duplicate id fail at the positions Camunda 7.24 reports (the end of the element's start tag,
checked against the engine in test_camunda_fidelity.py); a sequence flow to a missing element
fails with both of Camunda's problems, the element ids on the flow's own; a non-executable
process gets the schema check but not the flow check; jBPM rules skip the schema and word the
flow check as jBPM; the operator's refusal carries line and column, the shim reads them back.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from deployunits.api.camunda.errors import problems, refused_content
from deployunits.content import javaorder
from deployunits.content.definitions import ModelKind
from deployunits.content.validation import InvalidModel, Problem, Rules, validate_model
from deployunits.content.xmlsafe import parse_xml_document
from deployunits.reconcile.deploymentunit import ContentProblem, Limits, NamedContent, analyze

SAMPLES = Path(__file__).parent / "samples"

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"


def bpmn(body: str, *, executable: bool = True) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<definitions xmlns="{BPMN}" id="d" targetNamespace="urn:x">\n'
        f'  <process id="p" isExecutable="{str(executable).lower()}">\n'
        f"{body}"
        "  </process>\n"
        "</definitions>"
    ).encode()


MISPLACED = bpmn('    <startEvent id="start"><bogus/></startEvent>\n')
MISSING_TARGET = bpmn(
    '    <startEvent id="start"/>\n'
    '    <sequenceFlow id="f1" sourceRef="start" targetRef="missing"/>\n'
)


def problems_of(
    content: bytes, name: str = "p.bpmn", rules: Rules = Rules.CAMUNDA
) -> list[Problem]:
    kind = {"bpmn": ModelKind.BPMN, "dmn": ModelKind.DMN, "cmmn": ModelKind.CMMN}
    document = parse_xml_document(content, name)
    try:
        validate_model(document, kind[name.rpartition(".")[2]], rules)
    except InvalidModel as error:
        return list(error.problems)
    return []


class TestValidModels:
    def test_a_valid_process_with_camunda_extensions_passes(self) -> None:
        content = bpmn(
            '    <startEvent id="start" xmlns:camunda="http://camunda.org/schema/1.0/bpmn"'
            ' camunda:asyncBefore="true"/>\n'
            '    <sequenceFlow id="f1" sourceRef="start" targetRef="end"/>\n'
            '    <endEvent id="end"/>\n'
        )
        assert problems_of(content) == []

    def test_valid_dmn_and_cmmn_pass(self) -> None:
        dmn = (
            b'<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="d" '
            b'name="D" namespace="urn:x"><decision id="k" name="K"/></definitions>'
        )
        cmmn = (
            b'<definitions xmlns="http://www.omg.org/spec/CMMN/20151109/MODEL" id="d" '
            b'targetNamespace="urn:x"><case id="c"><casePlanModel id="m"/></case></definitions>'
        )
        assert problems_of(dmn, "d.dmn") == []
        assert problems_of(cmmn, "c.cmmn") == []

    def test_a_jbpm_sample_that_breaks_the_schema_passes_jbpm_rules_only(self) -> None:
        # jbpm-examples' Evaluation: an <operation> without its inMessageRef, which jBPM logs.
        content = (SAMPLES / "evaluation.bpmn2").read_bytes()
        assert problems_of(content, "e.bpmn", Rules.JBPM) == []
        [problem] = problems_of(content, "e.bpmn", Rules.CAMUNDA)
        assert "operation" in problem.message
        assert problem.line == 60


class TestSchemaViolations:
    def test_an_element_in_the_wrong_place_is_placed_as_the_engine_places_it(self) -> None:
        [problem] = problems_of(MISPLACED)
        assert (problem.line, problem.column) == (4, 36)
        assert "bogus" in problem.message
        assert (problem.main_element_id, problem.element_ids) == (None, ())

    def test_a_duplicate_id_is_refused(self) -> None:
        content = bpmn('    <startEvent id="start"/>\n    <endEvent id="start"/>\n')
        [problem] = problems_of(content)
        assert (problem.line, problem.column) == (5, 27)

    @pytest.mark.parametrize(
        ("name", "content", "column"),
        [
            (
                "d.dmn",
                b'<?xml version="1.0"?>\n'
                b'<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="d" '
                b'name="D" namespace="urn:x">\n'
                b'  <decision id="k" name="K"><bogus/></decision>\n</definitions>',
                37,
            ),
            (
                "c.cmmn",
                b'<?xml version="1.0"?>\n'
                b'<definitions xmlns="http://www.omg.org/spec/CMMN/20151109/MODEL" id="d" '
                b'targetNamespace="urn:x">\n'
                b'  <case id="k"><bogus/><casePlanModel id="m"/></case>\n</definitions>',
                24,
            ),
        ],
    )
    def test_dmn_and_cmmn_are_checked_against_their_schemas(
        self, name: str, content: bytes, column: int
    ) -> None:
        [problem] = problems_of(content, name)
        assert (problem.line, problem.column) == (3, column)
        assert "bogus" in problem.message

    def test_a_non_executable_process_gets_the_schema_check(self) -> None:
        assert problems_of(bpmn('    <startEvent id="s"><bogus/></startEvent>\n', executable=False))


class TestReferences:
    def test_a_flow_to_a_missing_element_has_both_of_the_engines_problems(self) -> None:
        dangling, flow = problems_of(MISSING_TARGET)
        assert dangling == Problem(
            "cvc-id.1: There is no ID/IDREF binding for IDREF 'missing'.", 7, 15
        )
        assert flow == Problem(
            "Invalid destination 'missing' of sequence flow 'f1'", 5, 66, "f1", ("f1",)
        )

    def test_dangling_idrefs_come_in_the_order_xerces_reports_them(self) -> None:
        # Xerces iterates a java.util.HashSet: checked against the engine for these two.
        content = bpmn(
            '    <startEvent id="start"/>\n'
            '    <sequenceFlow id="f1" sourceRef="start" targetRef="missing"/>\n'
            '    <sequenceFlow id="f2" sourceRef="nowhere" targetRef="start"/>\n',
            executable=False,
        )
        # "Aa" and "BB" share a Java hash code, so one bucket: then in document order.
        colliding = bpmn(
            '    <startEvent id="start"/>\n'
            '    <sequenceFlow id="f1" sourceRef="start" targetRef="BB"/>\n'
            '    <sequenceFlow id="f2" sourceRef="Aa" targetRef="start"/>\n',
            executable=False,
        )
        for source, order in ((content, ["nowhere", "missing"]), (colliding, ["BB", "Aa"])):
            assert [p.message.split("'")[1] for p in problems_of(source)] == order

    def test_a_flow_from_a_node_of_another_scope_is_invalid(self) -> None:
        content = bpmn(
            '    <subProcess id="sub"><startEvent id="inner"/></subProcess>\n'
            '    <sequenceFlow id="f1" sourceRef="inner" targetRef="sub"/>\n'
        )
        [problem] = problems_of(content)
        assert problem.message == "Invalid source 'inner' of sequence flow 'f1'"

    def test_a_non_executable_process_skips_the_flow_check(self) -> None:
        content = bpmn(
            '    <startEvent id="start"/>\n'
            '    <sequenceFlow id="f1" sourceRef="start" targetRef="missing"/>\n',
            executable=False,
        )
        [problem] = problems_of(content)
        assert problem.message.startswith("cvc-id.1")

    def test_jbpm_words_the_flow_check_its_own_way_for_every_process(self) -> None:
        content = bpmn(
            '    <startEvent id="start"/>\n'
            '    <sequenceFlow id="f1" sourceRef="start" targetRef="missing"/>\n',
            executable=False,
        )
        [problem] = problems_of(content, rules=Rules.JBPM)
        assert problem.message == "Could not find target node for connection:missing"
        assert (problem.line, problem.main_element_id) == (5, "f1")


class TestRefusals:
    def test_the_operator_refuses_with_line_and_column_and_the_shim_reads_them_back(
        self,
    ) -> None:
        refused = analyze(
            [NamedContent("p.bpmn", MISSING_TARGET)], Limits(), deny_custom_code=False, jbpm=False
        )
        assert isinstance(refused, ContentProblem)
        assert not refused.temporary
        assert "resource 'p.bpmn' line 7, column 15: cvc-id.1" in refused.message
        read = problems(refused.message)["p.bpmn"].errors
        assert [(p.line, p.column) for p in read] == [(7, 15), (5, 66)]

    def test_a_bound_unit_leaves_validation_to_its_engine(self) -> None:
        parsed = analyze(
            [NamedContent("p.bpmn", MISPLACED)],
            Limits(),
            deny_custom_code=False,
            jbpm=False,
            validate=False,
        )
        assert not isinstance(parsed, ContentProblem)

    def test_the_shims_parse_exception_carries_every_problem_and_its_element_ids(self) -> None:
        document = parse_xml_document(MISSING_TARGET, "p.bpmn")
        with pytest.raises(InvalidModel) as refused:
            validate_model(document, ModelKind.BPMN, Rules.CAMUNDA)
        error = refused_content(refused.value)
        body = error.body()
        assert (error.status, body["type"], body["code"]) == (400, "ParseException", 0)
        assert body["message"].startswith("ENGINE-09005 Could not parse BPMN process. Errors: \n* ")
        [second] = [p for p in body["details"]["p.bpmn"]["errors"] if p["mainElementId"]]
        assert second == {
            "message": "Invalid destination 'missing' of sequence flow 'f1'",
            "line": 5,
            "column": 66,
            "mainElementId": "f1",
            "\u0435lementIds": ["f1"],
        }
        assert body["details"]["p.bpmn"]["warnings"] == []


def test_java_hash_order_matches_a_java_hash_map() -> None:
    # The order jshell printed for a java.util.HashMap given these keys in this order (the
    # table grows to 32 buckets on the 13th key).
    keys = ["reason", "employee", "amount", "Aa", "BB"] + [f"x{i}" for i in range(1, 14)]
    assert javaorder.hash_order(keys) == [
        *("Aa", "BB", "x8", "reason", "x9", "amount", "employee", "x10", "x12", "x1"),
        *("x11", "x2", "x3", "x13", "x4", "x5", "x6", "x7"),
    ]
