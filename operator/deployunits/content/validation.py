"""Validation of BPMN, DMN and CMMN resources as the engines validate them before deploying.

For Camunda, two checks in the engine's order: the document against its model's XML Schema (the
files the Camunda 7.24 model jars validate with, vendored in `schemas/`, see its ORIGIN.md), then
the reference checks the schema states but libxml2 leaves out (every IDREF names an ID of the
document, Xerces' `cvc-id.1`) and Camunda's BpmnParse makes (a sequence flow's source and target
are flow nodes of its own scope). For jBPM, which only logs schema violations, the reference
check it fails on. Every problem of a resource is reported, as Camunda's ParseException does,
each at the position a SAX parser gives (the end of the element's start tag) with the ids of the
elements at fault. Messages of schema violations are libxml2's, not Xerces' `cvc-*` wording.

Schemas are compiled once per process, on first use, and loaded only from the package's own
folder: no network, no DTDs, no entities. Documents reach this module already parsed by
`xmlsafe`, which refused DTDs and entities in them.
"""

from __future__ import annotations

import functools
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

from lxml import etree

from deployunits.content import javaorder
from deployunits.content.definitions import (
    BPMN_NS,
    CMMN_NAMESPACES,
    DMN_NAMESPACES,
    ModelKind,
)
from deployunits.content.xmlsafe import ContentError, XmlDocument, namespace_of

__all__ = ["InvalidModel", "Problem", "Rules", "validate_model"]

_SCHEMAS: Final = Path(__file__).parent / "schemas"
_XSD_NS: Final = "http://www.w3.org/2001/XMLSchema"

#: The schema each model namespace is validated against (the model jars' own mapping).
_SCHEMA_FILES: Final = {
    BPMN_NS: "bpmn20/BPMN20.xsd",
    "http://www.omg.org/spec/DMN/20151101/dmn.xsd": "dmn/DMN11.xsd",
    "http://www.omg.org/spec/DMN/20180521/MODEL/": "dmn/DMN12.xsd",
    "https://www.omg.org/spec/DMN/20191111/MODEL/": "dmn/DMN13.xsd",
    "http://www.omg.org/spec/CMMN/20151109/MODEL": "cmmn11/CMMN11.xsd",
    "http://www.omg.org/spec/CMMN/20131201/MODEL": "cmmn10/CMMN10.xsd",
}
_NAMESPACES_OF: Final = {
    ModelKind.BPMN: frozenset({BPMN_NS}),
    ModelKind.DMN: frozenset(DMN_NAMESPACES),
    ModelKind.CMMN: frozenset(CMMN_NAMESPACES),
}

#: Children of a process or sub-process that are not flow nodes a sequence flow may connect
#: (Camunda looks sources and targets up among the activities of the flow's own scope).
_NOT_FLOW_NODES: Final = frozenset(
    {
        "sequenceFlow",
        "association",
        "textAnnotation",
        "group",
        "dataObject",
        "dataObjectReference",
        "dataStoreReference",
        "laneSet",
        "ioSpecification",
        "property",
        "documentation",
        "extensionElements",
        "auditing",
        "monitoring",
        "supports",
        "resourceRole",
        "correlationSubscription",
        "dataInputAssociation",
        "dataOutputAssociation",
        "loopCharacteristics",
        "multiInstanceLoopCharacteristics",
        "standardLoopCharacteristics",
    }
)
_BPMN_PREFIX: Final = f"{{{BPMN_NS}}}"
_NOT_FLOW_NODE_TAGS: Final = frozenset(_BPMN_PREFIX + name for name in _NOT_FLOW_NODES)
_SCOPE_TAGS: Final = tuple(
    _BPMN_PREFIX + name for name in ("process", "subProcess", "transaction", "adHocSubProcess")
)
_JBPM_ENDS: Final = {"source": "source", "destination": "target"}


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem in a resource, in the fields of Camunda's ProblemDto."""

    message: str
    line: int | None
    column: int | None
    main_element_id: str | None = None
    element_ids: tuple[str, ...] = ()


class InvalidModel(ContentError):
    """A well-formed resource that is not a valid model; every problem found in it."""

    def __init__(self, resource: str, problems: list[Problem]) -> None:
        first = problems[0]
        super().__init__(
            resource,
            first.message,
            line=first.line,
            column=first.column,
            element_id=first.main_element_id,
        )
        self.problems = tuple(problems)

    def __str__(self) -> str:
        # One `resource '<n>' line L, column C: <msg>` per problem: the form in which the
        # operator's Stalled message carries them, and the shim reads them back.
        return "; ".join(
            str(ContentError(self.resource, p.message, line=p.line, column=p.column))
            for p in self.problems
        )


class Rules(StrEnum):
    """Whose rules a resource is checked by: a Camunda-style unit's or a jBPM unit's."""

    CAMUNDA = "camunda"
    #: jBPM 6.5 only logs schema violations (drools' ExtensibleXmlParser) and fails on
    #: references it cannot link (ProcessHandler.linkConnections), in every process.
    JBPM = "jbpm"


def validate_model(document: XmlDocument, kind: ModelKind, rules: Rules) -> None:
    """Raise `InvalidModel` if the document breaks what the engine checks before deploying.

    A root in a namespace the kind does not know is left to `definitions`, which names it.
    """
    namespace = namespace_of(document.root.tag)
    if namespace not in _NAMESPACES_OF[kind]:
        return
    schema_errors: list[etree._LogEntry] = []
    references: list[_Reference] = []
    tree: etree._ElementTree | None = None
    if rules is Rules.CAMUNDA:
        tree = etree.fromstring(document.source, _document_parser()).getroottree()
        schema = _schema(namespace)
        if not schema.validate(tree):
            schema_errors = list(schema.error_log)
        references += _dangling_idrefs(document, namespace)
    if kind is ModelKind.BPMN:
        references += _sequence_flow_problems(document, rules)
    if not schema_errors and not references:
        return
    problems: list[Problem] = []
    placed: list[tuple[str, int | None, int | None, _Reference | None]] = []
    if schema_errors:
        assert tree is not None  # schema errors come from validating it
        # The proxies must stay alive for the elements found by path to be the same objects.
        elements = list(tree.iter(etree.Element))
        lxml_order = {element: i for i, element in enumerate(elements)}
        for entry in schema_errors:
            element = _element_at(tree, entry.path)
            index = lxml_order.get(element) if element is not None else None
            placed.append((entry.message, index, entry.line, None))
    order = {id(e): i for i, e in enumerate(document.root.iter())}
    for reference in references:
        index = order[id(reference.element)] if reference.element is not None else None
        placed.append((reference.message, index, None, reference))
    ends = document.tag_ends(index for _, index, _, _ in placed if index is not None)
    for message, index, fallback_line, source in placed:
        line: int | None
        column: int | None
        if index is not None and index in ends:
            line, column = ends[index]
        elif source is not None:
            line, column = _document_end(document.source)
        else:
            line, column = fallback_line, None
        problems.append(
            Problem(
                message,
                line,
                column,
                source.main_element_id if source else None,
                source.element_ids if source else (),
            )
        )
    raise InvalidModel(document.resource, problems)


def _element_at(tree: etree._ElementTree, path: str | None) -> etree._Element | None:
    """The element a libxml2 error names by its path (`/*/*[3]` or with prefixes)."""
    if not path:
        return None
    root = tree.getroot()
    prefixes = {k: v for k, v in root.nsmap.items() if k is not None}
    try:
        found = tree.xpath(path, namespaces=prefixes)
    except etree.XPathError:
        return None
    if isinstance(found, list) and found and isinstance(found[0], etree._Element):
        return found[0]
    return None


@dataclass(frozen=True, slots=True)
class _Reference:
    """A reference check's problem and the element it belongs to (None for the whole
    document: Xerces reports IDREFs that name no ID at the document's end)."""

    message: str
    element: ET.Element | None
    main_element_id: str | None = None
    element_ids: tuple[str, ...] = ()


def _document_end(source: bytes) -> tuple[int, int]:
    body = source.rstrip()
    line_start = body.rfind(b"\n") + 1
    return body.count(b"\n") + 1, len(body[line_start:].decode("utf-8", "replace")) + 1


def _dangling_idrefs(document: XmlDocument, namespace: str) -> Iterator[_Reference]:
    """Xerces' cvc-id.1: an IDREF attribute naming no ID of the document (libxml2 does not
    check it). The engine reports each once, at the end of the document."""
    idrefs = _idref_attributes(namespace)
    if not idrefs:
        return
    ids: set[str] = set()
    refs: list[str] = []
    for element in document.root.iter():
        own = element.get("id")
        if own is not None:
            ids.add(own)
        attributes = idrefs.get(element.tag)
        if attributes:
            for attribute in attributes:
                value = element.get(attribute)
                if value:
                    refs += value.split()
    missing = dict.fromkeys(ref for ref in refs if ref not in ids)
    # Xerces collects them in a java.util.HashSet, and reports them in its order.
    for ref in javaorder.hash_order(missing):
        yield _Reference(f"cvc-id.1: There is no ID/IDREF binding for IDREF '{ref}'.", None)


def _sequence_flow_problems(document: XmlDocument, rules: Rules) -> list[_Reference]:
    """A sequence flow's source and target must be flow nodes of its own scope: Camunda's
    BpmnParse.parseSequenceFlow for executable processes (the only ones it parses), jBPM's
    linkConnections for every process, each in its own words."""
    found: list[_Reference] = []
    for process in document.root.findall(f"{{{BPMN_NS}}}process"):
        if rules is Rules.CAMUNDA and (process.get("isExecutable") or "").lower() != "true":
            continue
        scopes = [process] + [scope for tag in _SCOPE_TAGS[1:] for scope in process.iter(tag)]
        for scope in scopes:
            nodes = {
                child.get("id")
                for child in scope
                if child.tag.startswith(_BPMN_PREFIX) and child.tag not in _NOT_FLOW_NODE_TAGS
            }
            for flow in scope.findall(f"{{{BPMN_NS}}}sequenceFlow"):
                flow_id = flow.get("id") or ""
                for attribute, what in (("sourceRef", "source"), ("targetRef", "destination")):
                    ref = flow.get(attribute)
                    if ref is not None and ref not in nodes:
                        message = (
                            f"Invalid {what} '{ref}' of sequence flow '{flow_id}'"
                            if rules is Rules.CAMUNDA
                            else f"Could not find {_JBPM_ENDS[what]} node for connection:{ref}"
                        )
                        found.append(_Reference(message, flow, flow_id, (flow_id,)))
    return found


def _document_parser() -> etree.XMLParser:
    # A parser per call: lxml parsers are not safe to share between threads. The source passed
    # the safe parse already (no DTD, no entities) and is within the resource limit; huge_tree
    # lifts libxml2's 10,000,000-byte cap on one text node, which a 10 MiB BPMN whose bulk is
    # documentation reaches.
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True)


class _LocalSchemas(etree.Resolver):
    """Resolves schema imports to files of `schemas/` only; anything else fails."""

    def resolve(
        self, system_url: str | None, public_id: str | None, context: object
    ) -> Any:  # lxml's private _InputDocument
        path = Path(system_url or "").resolve()
        if not path.is_relative_to(_SCHEMAS.resolve()) or not path.is_file():
            raise ValueError(f"schema import outside the vendored schemas: {system_url}")
        return self.resolve_filename(str(path), context)


@functools.cache
def _schema(namespace: str) -> etree.XMLSchema:
    """The compiled schema of a model namespace (about 35 ms for BPMN, so once per process)."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    parser.resolvers.add(_LocalSchemas())
    return etree.XMLSchema(etree.parse(str(_SCHEMAS / _SCHEMA_FILES[namespace]), parser))


@functools.cache
def _idref_attributes(namespace: str) -> dict[str, frozenset[str]]:
    """Element tag (`{namespace}local`) -> its attributes of type IDREF or IDREFS, read from
    the schema files of the namespace (types inherit their bases' attributes)."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    folder = (_SCHEMAS / _SCHEMA_FILES[namespace]).parent
    attributes: dict[str, set[str]] = {}
    bases: dict[str, str] = {}
    element_types: dict[str, set[str]] = {}
    for path in sorted(folder.glob("*.xsd")):
        root = etree.parse(str(path), parser).getroot()
        if root.get("targetNamespace") != namespace:
            continue
        for complex_type in root.iter(f"{{{_XSD_NS}}}complexType"):
            name = complex_type.get("name")
            if name is None:
                continue
            own = attributes.setdefault(name, set())
            for attribute in complex_type.iter(f"{{{_XSD_NS}}}attribute"):
                kind = (attribute.get("type") or "").rpartition(":")[2]
                if kind in ("IDREF", "IDREFS") and attribute.get("name"):
                    own.add(str(attribute.get("name")))
            for extension in complex_type.iter(f"{{{_XSD_NS}}}extension"):
                base = extension.get("base") or ""
                bases[name] = base.rpartition(":")[2]
        for element in root.iter(f"{{{_XSD_NS}}}element"):
            name, type_ = element.get("name"), element.get("type")
            if name and type_:
                element_types.setdefault(name, set()).add(type_.rpartition(":")[2])

    def inherited(type_name: str) -> set[str]:
        found: set[str] = set()
        seen: set[str] = set()
        while type_name and type_name not in seen:
            seen.add(type_name)
            found |= attributes.get(type_name, set())
            type_name = bases.get(type_name, "")
        return found

    result: dict[str, frozenset[str]] = {}
    for name, types in element_types.items():
        refs = set().union(*(inherited(t) for t in types))
        if refs:
            result[f"{{{namespace}}}{name}"] = frozenset(refs)
    return result
