"""Safe XML parsing and the definitions BPMN, DMN and CMMN resources declare."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from defusedxml.ElementTree import DefusedXMLParser

from deployunits.content import xmlsafe
from deployunits.content.definitions import (
    MAX_KEY_LENGTH,
    ModelKind,
    ParsedDefinition,
    model_kind_of,
    parse_definitions,
)
from deployunits.content.xmlsafe import ContentError, parse_xml, parse_xml_document

SAMPLES = Path(__file__).parent / "samples"

BPMN_HEADER = (
    '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"'
    ' xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="Definitions_1"'
    ' targetNamespace="http://bpmn.io/schema/bpmn">'
)


def bpmn(body: str) -> bytes:
    declaration = '<?xml version="1.0" encoding="UTF-8"?>'
    return f"{declaration}\n{BPMN_HEADER}\n{body}\n</bpmn:definitions>\n".encode()


def dmn(namespace: str, body: str) -> bytes:
    return (
        f'<definitions xmlns="{namespace}" xmlns:camunda="http://camunda.org/schema/1.0/dmn"'
        f' id="drd" name="Requirements" namespace="http://camunda.org/schema/1.0/dmn">'
        f"{body}</definitions>"
    ).encode()


def cmmn(body: str) -> bytes:
    return (
        '<cmmn:definitions xmlns:cmmn="http://www.omg.org/spec/CMMN/20151109/MODEL" id="d"'
        f' targetNamespace="http://bpmn.io/schema/cmmn">{body}</cmmn:definitions>'
    ).encode()


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


# Which resources declare definitions, by suffix -------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("invoice.bpmn", ModelKind.BPMN),
        ("processes/invoice.bpmn20.xml", ModelKind.BPMN),
        ("org/jbpm/evaluation.bpmn2", ModelKind.BPMN),
        ("dish.dmn", ModelKind.DMN),
        ("dish.dmn11.xml", ModelKind.DMN),
        ("claim.cmmn", ModelKind.CMMN),
        ("claim.cmmn11.xml", ModelKind.CMMN),
        ("claim.cmmn10.xml", ModelKind.CMMN),
        ("INVOICE.BPMN", None),
        ("start-form.form", None),
        ("rules/discount.drl", None),
        ("invoice.png", None),
        ("META-INF/kmodule.xml", None),
        ("invoice.bpmn.bak", None),
    ],
)
def test_model_kind_follows_the_engines_suffixes(name: str, kind: ModelKind | None) -> None:
    assert model_kind_of(name) == kind


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("start-form.form", b'{"components": []}'),
        ("rules/discount.drl", b"package org.acme;\nrule 'x' when then end"),
        ("invoice.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"),
        ("META-INF/kmodule.xml", b'<kmodule xmlns="http://www.drools.org/xsd/kmodule"/>'),
    ],
)
def test_other_resources_declare_nothing_and_are_not_parsed(name: str, data: bytes) -> None:
    assert parse_definitions(name, data) == []


# BPMN processes -----------------------------------------------------------------------------


def test_camunda_modeler_bpmn_reports_processes_with_camunda_attributes() -> None:
    definitions = parse_definitions("invoice.bpmn", sample("invoice.bpmn"))

    assert definitions == [
        ParsedDefinition(
            kind="process",
            key="invoice",
            name="Invoice Receipt",
            resource="invoice.bpmn",
            version_tag="V1.0",
            history_time_to_live="P45D",
            executable=True,
            startable=True,
            category="http://bpmn.io/schema/bpmn",
        ),
        ParsedDefinition(
            kind="process",
            key="supplier",
            name="Supplier",
            resource="invoice.bpmn",
            executable=False,
            category="http://bpmn.io/schema/bpmn",
        ),
    ]
    assert definitions[0].history_time_to_live_days == 45


def test_process_without_is_executable_is_not_executable_as_in_camunda() -> None:
    (process,) = parse_definitions("p.bpmn", bpmn('<bpmn:process id="p" />'))

    assert process.executable is False
    assert process.name is None


@pytest.mark.parametrize(
    ("value", "executable"), [("true", True), ("TRUE", True), ("false", False), ("yes", False)]
)
def test_is_executable_reads_like_java_parse_boolean(value: str, executable: bool) -> None:
    (process,) = parse_definitions(
        "p.bpmn", bpmn(f'<bpmn:process id="p" isExecutable="{value}" />')
    )

    assert process.executable is executable


@pytest.mark.parametrize(("value", "startable"), [(None, True), ("false", False), ("True", True)])
def test_startable_in_tasklist_defaults_to_true(value: str | None, startable: bool) -> None:
    attribute = "" if value is None else f' camunda:isStartableInTasklist="{value}"'
    (process,) = parse_definitions(
        "p.bpmn", bpmn(f'<bpmn:process id="p" isExecutable="true"{attribute} />')
    )

    assert process.startable is startable


def test_jbpm_bpmn2_reports_package_name_and_version() -> None:
    (process,) = parse_definitions("org/jbpm/evaluation.bpmn2", sample("evaluation.bpmn2"))

    assert process == ParsedDefinition(
        kind="process",
        key="evaluation",
        name="Evaluation",
        resource="org/jbpm/evaluation.bpmn2",
        executable=True,
        jbpm_version="1.0",
        package_name="org.jbpm",
        category="http://www.omg.org/bpmn20",
        variables=(("employee", "String"), ("reason", "String")),
    )


def test_process_variables_are_read_as_jbpm_reads_them() -> None:
    content = bpmn(
        '<bpmn:itemDefinition id="textItem" structureRef="java.lang.String"/>'
        '<bpmn:itemDefinition id="blankItem" structureRef=" "/>'
        '<bpmn:itemDefinition id="textItem" structureRef="java.lang.Integer"/>'
        '<bpmn:process id="p" isExecutable="true">'
        '<bpmn:property id="byId" itemSubjectRef="textItem"/>'
        '<bpmn:property id="p2" name="byName" itemSubjectRef="blankItem"/>'
        '<bpmn:property id="untyped"/>'
        '<bpmn:property id="unknown" itemSubjectRef="nowhere"/>'
        '<bpmn:property id="late" itemSubjectRef="lateItem"/>'
        '<bpmn:userTask id="t"><bpmn:property id="ofTask" itemSubjectRef="textItem"/>'
        "</bpmn:userTask>"
        '<bpmn:subProcess id="s"><bpmn:property id="inner" itemSubjectRef="textItem"/>'
        "</bpmn:subProcess>"
        '<bpmn:property id="p3" name="byId" itemSubjectRef="blankItem"/>'
        "</bpmn:process>"
        '<bpmn:itemDefinition id="lateItem" structureRef="java.util.Date"/>'
    )
    (process,) = parse_definitions("p.bpmn", content)

    # The first item definition of an id wins, a blank structureRef is java.lang.Object, a
    # property without itemSubjectRef or inside a task is none, an unknown or later item
    # definition types it java.lang.Object, and a second property of a name keeps its place.
    assert process.variables == (
        ("byId", "java.lang.Object"),
        ("byName", "java.lang.Object"),
        ("unknown", "java.lang.Object"),
        ("late", "java.lang.Object"),
        ("inner", "java.lang.String"),
    )


# DMN decisions and decision requirements ---------------------------------------------------


def test_dmn13_with_two_decisions_reports_a_decision_requirements_definition() -> None:
    definitions = parse_definitions("dish.dmn", sample("dish.dmn"))

    assert definitions == [
        ParsedDefinition(
            kind="decision-requirements",
            key="dinnerDecisions",
            name="Dinner Decisions",
            resource="dish.dmn",
            category="http://camunda.org/schema/1.0/dmn",
        ),
        ParsedDefinition(
            kind="decision",
            key="dish",
            name="Dish",
            resource="dish.dmn",
            version_tag="2",
            history_time_to_live="180",
            category="http://camunda.org/schema/1.0/dmn",
            decision_requirements_key="dinnerDecisions",
        ),
        ParsedDefinition(
            kind="decision",
            key="season",
            name="Season",
            resource="dish.dmn",
            category="http://camunda.org/schema/1.0/dmn",
            decision_requirements_key="dinnerDecisions",
        ),
    ]
    assert definitions[1].history_time_to_live_days == 180


@pytest.mark.parametrize(
    "namespace",
    [
        "http://www.omg.org/spec/DMN/20151101/dmn.xsd",
        "http://www.omg.org/spec/DMN/20180521/MODEL/",
        "https://www.omg.org/spec/DMN/20191111/MODEL/",
    ],
)
def test_single_decision_gets_no_decision_requirements_definition(namespace: str) -> None:
    data = dmn(namespace, '<decision id="approve" name="Approve" camunda:versionTag="v3" />')

    assert parse_definitions("approve.dmn11.xml", data) == [
        ParsedDefinition(
            kind="decision",
            key="approve",
            name="Approve",
            resource="approve.dmn11.xml",
            version_tag="v3",
            category="http://camunda.org/schema/1.0/dmn",
        )
    ]


def test_unsupported_dmn_version_is_refused() -> None:
    data = dmn("https://www.omg.org/spec/DMN/20211108/MODEL/", '<decision id="d" />')

    with pytest.raises(ContentError, match=r"expected a DMN 1\.1 or DMN 1\.2 or DMN 1\.3"):
        parse_definitions("d.dmn", data)


# CMMN cases ---------------------------------------------------------------------------------


def test_cmmn_case_is_reported_with_history_time_to_live() -> None:
    assert parse_definitions("claim.cmmn", sample("claim.cmmn")) == [
        ParsedDefinition(
            kind="case",
            key="claimHandling",
            name="Claim handling",
            resource="claim.cmmn",
            history_time_to_live="P10D",
            category="http://bpmn.io/schema/cmmn",
        )
    ]


# Categories and decision requirements keys -------------------------------------------------


def test_category_of_a_process_is_the_target_namespace_of_its_definitions() -> None:
    data = (
        b'<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d"'
        b' targetNamespace="http://acme.example/invoicing">'
        b'<process id="a" isExecutable="true" /><process id="b" />'
        b"</definitions>"
    )

    processes = parse_definitions("p.bpmn", data)

    assert [(p.key, p.category) for p in processes] == [
        ("a", "http://acme.example/invoicing"),
        ("b", "http://acme.example/invoicing"),
    ]


def test_category_of_a_dmn_is_its_namespace_attribute_not_the_xml_namespace() -> None:
    data = (
        b'<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="drd"'
        b' name="Dinner" namespace="http://acme.example/dinner">'
        b'<decision id="dish" /><decision id="season" />'
        b"</definitions>"
    )

    definitions = parse_definitions("d.dmn", data)

    assert [(d.kind, d.key, d.category) for d in definitions] == [
        ("decision-requirements", "drd", "http://acme.example/dinner"),
        ("decision", "dish", "http://acme.example/dinner"),
        ("decision", "season", "http://acme.example/dinner"),
    ]


def test_category_of_a_case_is_the_target_namespace_of_its_definitions() -> None:
    data = (
        b'<definitions xmlns="http://www.omg.org/spec/CMMN/20131201/MODEL" id="d"'
        b' targetNamespace="http://acme.example/claims"><case id="claim" /></definitions>'
    )

    (case,) = parse_definitions("c.cmmn10.xml", data)

    assert (case.key, case.category) == ("claim", "http://acme.example/claims")


def test_both_decisions_of_a_two_decision_dmn_name_the_decision_requirements_key() -> None:
    data = dmn(
        "https://www.omg.org/spec/DMN/20191111/MODEL/",
        '<decision id="dish" /><decision id="season" />',
    )

    definitions = parse_definitions("d.dmn", data)

    assert [(d.kind, d.key, d.decision_requirements_key) for d in definitions] == [
        ("decision-requirements", "drd", None),
        ("decision", "dish", "drd"),
        ("decision", "season", "drd"),
    ]


def test_the_decision_of_a_one_decision_dmn_has_no_decision_requirements_key() -> None:
    data = dmn("https://www.omg.org/spec/DMN/20191111/MODEL/", '<decision id="dish" />')

    (decision,) = parse_definitions("d.dmn", data)

    assert decision.kind == "decision"
    assert decision.decision_requirements_key is None


# Keys and attribute values ------------------------------------------------------------------


def test_process_without_id_is_refused_at_its_position() -> None:
    data = bpmn('<bpmn:process name="Nameless" isExecutable="true" />')

    with pytest.raises(ContentError) as caught:
        parse_definitions("p.bpmn", data)

    assert caught.value.message == "process 'Nameless' has no id; the id is its key"
    assert (caught.value.line, caught.value.column) == (3, 1)


def test_decision_with_empty_id_is_refused() -> None:
    data = dmn("https://www.omg.org/spec/DMN/20191111/MODEL/", '<decision id="  " />')

    with pytest.raises(ContentError, match="decision has no id"):
        parse_definitions("d.dmn", data)


def test_key_of_the_maximum_length_is_accepted() -> None:
    key = "k" * MAX_KEY_LENGTH
    (process,) = parse_definitions("p.bpmn", bpmn(f'<bpmn:process id="{key}" />'))

    assert process.key == key


def test_key_longer_than_the_maximum_is_refused() -> None:
    data = bpmn(f'<bpmn:process id="{"k" * (MAX_KEY_LENGTH + 1)}" />')

    with pytest.raises(ContentError, match="256 characters long, more than 255"):
        parse_definitions("p.bpmn", data)


def test_key_with_whitespace_is_refused() -> None:
    with pytest.raises(ContentError, match="contains whitespace") as caught:
        parse_definitions("c.cmmn", cmmn('<cmmn:case id="my case" />'))

    assert caught.value.element_id == "my case"


def test_duplicate_keys_in_one_resource_are_refused() -> None:
    data = bpmn('<bpmn:process id="p" /><bpmn:process id="p" />')

    with pytest.raises(ContentError, match="more than one process with the key 'p'"):
        parse_definitions("p.bpmn", data)


@pytest.mark.parametrize(
    ("value", "kept", "days"), [("30", "30", 30), (" P7D ", "P7D", 7), ("", None, None)]
)
def test_history_time_to_live_takes_days_or_an_iso_period(
    value: str, kept: str | None, days: int | None
) -> None:
    (process,) = parse_definitions(
        "p.bpmn",
        bpmn(f'<bpmn:process id="p" isExecutable="true" camunda:historyTimeToLive="{value}" />'),
    )

    assert (process.history_time_to_live, process.history_time_to_live_days) == (kept, days)


@pytest.mark.parametrize("value", ["thirty", "-1", "P1M", "99999999999"])
def test_history_time_to_live_that_camunda_cannot_parse_is_refused(value: str) -> None:
    data = bpmn(f'<bpmn:process id="p" isExecutable="true" camunda:historyTimeToLive="{value}" />')

    with pytest.raises(ContentError, match="cannot parse historyTimeToLive") as caught:
        parse_definitions("p.bpmn", data)

    assert caught.value.element_id == "p"


def test_history_time_to_live_of_a_skipped_process_is_not_checked() -> None:
    data = bpmn('<bpmn:process id="p" camunda:historyTimeToLive="thirty" />')

    (process,) = parse_definitions("p.bpmn", data)

    assert (process.history_time_to_live, process.history_time_to_live_days) == ("thirty", None)


def test_model_resource_with_a_foreign_root_is_refused() -> None:
    data = b'<?xml version="1.0"?>\n<kmodule xmlns="http://www.drools.org/xsd/kmodule"/>'

    with pytest.raises(ContentError) as caught:
        parse_definitions("invoice.bpmn", data)

    assert str(caught.value) == (
        "resource 'invoice.bpmn' line 2, column 1: expected a BPMN 2.0 'definitions' root"
        " element, found 'kmodule' in namespace http://www.drools.org/xsd/kmodule"
    )


# Safe parsing -------------------------------------------------------------------------------

XXE = b"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE definitions [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d">
  <process id="p" name="&xxe;" isExecutable="true" />
</definitions>
"""

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol9 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
]>
<lolz>&lol9;</lolz>
"""

EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE definitions SYSTEM "http://attacker.example/evil.dtd">
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" />
"""


@pytest.mark.parametrize(
    "payload", [XXE, BILLION_LAUGHS, EXTERNAL_DTD], ids=["xxe", "billion-laughs", "external-dtd"]
)
def test_dtds_and_entities_are_refused_with_a_clear_message(payload: bytes) -> None:
    with pytest.raises(ContentError) as caught:
        parse_definitions("evil.bpmn", payload)

    assert caught.value.message == "DTDs and entity declarations are not allowed"
    assert caught.value.line == 2
    assert "passwd" not in str(caught.value)


def test_broken_xml_reports_the_parser_line_and_column() -> None:
    data = b'<?xml version="1.0"?>\n<definitions>\n  <process id="p"></task>\n</definitions>'

    with pytest.raises(ContentError) as caught:
        parse_definitions("broken.bpmn", data)

    # expat points at the name in the wrong end tag: "task" starts in (1-based) column 21.
    error = caught.value
    assert (error.resource, error.line, error.column) == ("broken.bpmn", 3, 21)
    assert error.message == "mismatched tag"
    assert str(error) == "resource 'broken.bpmn' line 3, column 21: mismatched tag"


def test_empty_content_is_refused() -> None:
    with pytest.raises(ContentError, match="no element found"):
        parse_xml(b"", "empty.dmn")


def test_unknown_encoding_is_refused_without_a_position() -> None:
    with pytest.raises(ContentError, match="unsupported encoding") as caught:
        parse_xml(b'<?xml version="1.0" encoding="klingon"?><a/>', "k.bpmn")

    assert str(caught.value).startswith("resource 'k.bpmn': unsupported encoding")


def test_oversize_content_is_refused_before_parsing() -> None:
    data = b"<a>" + b" " * 100 + b"</a>"

    with pytest.raises(ContentError, match=r"content is 107 bytes, more than the limit of 106"):
        parse_xml(data, "big.bpmn", max_bytes=106)
    assert parse_xml(data, "big.bpmn", max_bytes=107).tag == "a"


def test_oversize_limit_applies_to_definitions() -> None:
    with pytest.raises(ContentError, match="more than the limit"):
        parse_definitions("dish.dmn", sample("dish.dmn"), max_bytes=1024)


def test_document_knows_where_each_element_starts() -> None:
    document = parse_xml_document(b'<a>\n  <b/>\n\t<c x="1"/></a>', "pos.xml")
    b, c = list(document.root)

    assert document.position_of(document.root) == (1, 1)
    assert document.position_of(b) == (2, 3)
    assert document.position_of(c) == (3, 2)


def test_utf16_content_is_parsed() -> None:
    data = bpmn('<bpmn:process id="p" name="Prüfung" />').decode().replace("UTF-8", "UTF-16")

    (process,) = parse_definitions("p.bpmn", data.encode("utf-16"))

    assert process.name == "Prüfung"


@pytest.mark.parametrize(
    ("data", "fast"),
    [
        (b'<?xml version="1.0" encoding="UTF-8"?><a/>', True),
        (b"\xef\xbb\xbf<a/>", True),
        (b"\n<a/>", True),
        (b"<?xml version='1.0' encoding='iso-8859-1'?><a/>", True),
        (XXE, False),
        (b"<a><!-- <!DOCTYPE x> --></a>", False),
        (b'<?xml version="1.0" encoding="UTF-16"?><a/>', False),
        ("<a/>".encode("utf-16"), False),
        (b'<?xml version="1.0" encoding=UTF-8?><a/>', False),
        (b"junk<a/>", False),
    ],
)
def test_only_documents_that_cannot_hold_a_dtd_take_the_fast_parser(
    data: bytes, fast: bool
) -> None:
    assert xmlsafe._without_dtd(data) is fast


def test_both_parsers_build_the_same_tree_and_report_the_same_errors() -> None:
    document = sample("invoice.bpmn")
    fast = parse_xml(document, "invoice.bpmn")
    parser = DefusedXMLParser(target=ET.TreeBuilder(), forbid_dtd=True)
    parser.feed(document)
    assert ET.tostring(fast) == ET.tostring(parser.close())
    # A broken document on the fast path is worded by the guarded parser, position included.
    with pytest.raises(ContentError) as caught:
        parse_xml(b"<a>\n<b></c></a>", "broken.bpmn")
    assert (caught.value.line, caught.value.column, caught.value.message) == (
        2,
        6,
        "mismatched tag",
    )
