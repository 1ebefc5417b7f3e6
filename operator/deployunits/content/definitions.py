"""The definitions a resource declares: processes, decisions, decision requirements and cases.

Pure functions over bytes or a parsed `XmlDocument` (see `xmlsafe`). The resource's file suffix
chooses the model, as in the engines' deployers (Camunda's BpmnDeployer, DmnDeployer and
CmmnDeployer, jBPM's BPMN2 resource type); other resources (forms, DRL, images, kmodule.xml)
declare nothing. The field values follow Camunda's parsers, so the REST shim can fill
`deployed*Definitions` maps from them and the operator can number versions by key.
"""

from __future__ import annotations

import dataclasses
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final, Literal

from deployunits.content.xmlsafe import (
    DEFAULT_MAX_XML_BYTES,
    XmlDocument,
    local_name,
    namespace_of,
    parse_xml_document,
)

__all__ = [
    "BPMN_NS",
    "CAMUNDA_BPMN_NS",
    "CAMUNDA_CMMN_NS",
    "CAMUNDA_DMN_NS",
    "CMMN_NAMESPACES",
    "DMN_NAMESPACES",
    "DROOLS_NS",
    "MAX_KEY_LENGTH",
    "DefinitionKind",
    "ModelKind",
    "ParsedDefinition",
    "definitions_of",
    "model_kind_of",
    "parse_definitions",
]

BPMN_NS: Final = "http://www.omg.org/spec/BPMN/20100524/MODEL"
DMN_NAMESPACES: Final = {
    "http://www.omg.org/spec/DMN/20151101/dmn.xsd": "DMN 1.1",
    "http://www.omg.org/spec/DMN/20180521/MODEL/": "DMN 1.2",
    "https://www.omg.org/spec/DMN/20191111/MODEL/": "DMN 1.3",
}
CMMN_NAMESPACES: Final = {
    "http://www.omg.org/spec/CMMN/20151109/MODEL": "CMMN 1.1",
    "http://www.omg.org/spec/CMMN/20131201/MODEL": "CMMN 1.0",
}
CAMUNDA_BPMN_NS: Final = "http://camunda.org/schema/1.0/bpmn"
CAMUNDA_DMN_NS: Final = "http://camunda.org/schema/1.0/dmn"
CAMUNDA_CMMN_NS: Final = "http://camunda.org/schema/1.0/cmmn"
DROOLS_NS: Final = "http://www.jboss.org/drools"

#: Definition keys land in varchar(255) columns (Camunda's KEY_) and in REST paths.
MAX_KEY_LENGTH: Final = 255

# Camunda accepts days as an integer or as an ISO-8601 period of days (ParseUtil), and stores
# them in a Java int.
_HISTORY_TIME_TO_LIVE: Final = re.compile(r"P([0-9]+)D|([0-9]+)")
_MAX_JAVA_INT: Final = 2**31 - 1

DefinitionKind = Literal["process", "decision", "case", "decision-requirements"]


class ModelKind(StrEnum):
    """The modelling language a resource is parsed as, chosen by its file suffix."""

    BPMN = "bpmn"
    DMN = "dmn"
    CMMN = "cmmn"


# Suffixes as the engines match them: case-sensitive `endsWith`, so `X.BPMN` is not parsed.
_SUFFIXES: Final = (
    (".bpmn20.xml", ModelKind.BPMN),
    (".bpmn2", ModelKind.BPMN),
    (".bpmn", ModelKind.BPMN),
    (".dmn11.xml", ModelKind.DMN),
    (".dmn", ModelKind.DMN),
    (".cmmn11.xml", ModelKind.CMMN),
    (".cmmn10.xml", ModelKind.CMMN),
    (".cmmn", ModelKind.CMMN),
)


@dataclass(frozen=True, slots=True)
class ParsedDefinition:
    """One definition a resource declares, before the operator gives it an id and a version.

    `executable` follows Camunda's BpmnParse for new deployments: a process is deployed only
    when `isExecutable` is present and "true" (case-insensitive); a missing attribute counts as
    false. jBPM deploys every process, so its callers ignore the flag. `startable` is Camunda's
    `isStartableInTasklist` (default true). Both are true for the other kinds.
    """

    kind: DefinitionKind
    key: str
    name: str | None
    resource: str
    version_tag: str | None = None
    history_time_to_live: str | None = None
    executable: bool = True
    startable: bool = True
    jbpm_version: str | None = None
    package_name: str | None = None
    #: The model's target namespace (Camunda reports it as the definition's "category").
    category: str | None = None
    #: For a decision of a decision requirements graph: the graph's key.
    decision_requirements_key: str | None = None
    #: For a process: its variables as jBPM 6.5 lists them, (name, type) in document order
    #: (see `_jbpm_variables`).
    variables: tuple[tuple[str, str], ...] = ()

    @property
    def history_time_to_live_days(self) -> int | None:
        """`history_time_to_live` as whole days, the integer Camunda's REST API reports."""
        return _days(self.history_time_to_live)


def model_kind_of(resource_name: str) -> ModelKind | None:
    """The model a resource is parsed as by its name, or None if it declares no definitions."""
    for suffix, kind in _SUFFIXES:
        if resource_name.endswith(suffix):
            return kind
    return None


def parse_definitions(
    resource_name: str, data: bytes, *, max_bytes: int = DEFAULT_MAX_XML_BYTES
) -> list[ParsedDefinition]:
    """The definitions in one resource, in document order; [] for non-model resources.

    Raises `ContentError` for unsafe or broken XML, a root element of the wrong model, and
    definitions without a usable key.
    """
    kind = model_kind_of(resource_name)
    if kind is None:
        return []
    return definitions_of(parse_xml_document(data, resource_name, max_bytes=max_bytes), kind)


def definitions_of(document: XmlDocument, kind: ModelKind) -> list[ParsedDefinition]:
    """The definitions in an already parsed resource, read as the given model."""
    match kind:
        case ModelKind.BPMN:
            definitions = _bpmn_definitions(document)
        case ModelKind.DMN:
            definitions = _dmn_definitions(document)
        case ModelKind.CMMN:
            definitions = _cmmn_definitions(document)
    _ensure_unique_keys(document, definitions)
    return definitions


def _bpmn_definitions(document: XmlDocument) -> list[ParsedDefinition]:
    root = _expect_root(document, {BPMN_NS: "BPMN 2.0"})
    processes: list[ParsedDefinition] = []
    # jBPM reads item definitions as its parser meets them: a process sees the earlier ones.
    item_types: dict[str, str] = {}
    for element in root:
        if element.tag == _ITEM_DEFINITION:
            item_id = element.get("id")
            if item_id is not None and item_id not in item_types:
                item_types[item_id] = (element.get("structureRef") or "").strip() or _JAVA_OBJECT
            continue
        if element.tag != _PROCESS:
            continue
        key = _key(document, element, "process")
        executable = _java_boolean(element.get("isExecutable"), default=False)
        history_time_to_live = element.get(f"{{{CAMUNDA_BPMN_NS}}}historyTimeToLive")
        processes.append(
            ParsedDefinition(
                kind="process",
                key=key,
                name=element.get("name"),
                resource=document.resource,
                version_tag=element.get(f"{{{CAMUNDA_BPMN_NS}}}versionTag"),
                # Camunda never parses a process it skips, so only executable ones can fail.
                history_time_to_live=(
                    _history_time_to_live(document, element, key, history_time_to_live)
                    if executable
                    else history_time_to_live
                ),
                executable=executable,
                startable=_java_boolean(
                    element.get(f"{{{CAMUNDA_BPMN_NS}}}isStartableInTasklist"), default=True
                ),
                jbpm_version=element.get(f"{{{DROOLS_NS}}}version"),
                package_name=element.get(f"{{{DROOLS_NS}}}packageName"),
                category=root.get("targetNamespace"),
                variables=_jbpm_variables(element, item_types),
            )
        )
    return processes


_PROCESS: Final = f"{{{BPMN_NS}}}process"
_ITEM_DEFINITION: Final = f"{{{BPMN_NS}}}itemDefinition"
_PROPERTY: Final = f"{{{BPMN_NS}}}property"
#: What jBPM's PropertyHandler takes variables from: the process and its (ad hoc, event)
#: sub-processes, its context containers; properties of tasks are not process variables.
_VARIABLE_SCOPES: Final = frozenset(
    f"{{{BPMN_NS}}}{name}" for name in ("subProcess", "adHocSubProcess", "transaction")
)
#: jBPM's type of a variable whose item definition it has not seen (UndefinedDataType) and
#: of an item definition without a structureRef.
_JAVA_OBJECT: Final = "java.lang.Object"


def _jbpm_variables(
    process: ET.Element, item_types: Mapping[str, str]
) -> tuple[tuple[str, str], ...]:
    """The process's variables as jBPM 6.5's ProcessGetInputHandler collects them: every
    `property` of the process and of its sub-processes, in document order, named by its
    `name` (or its `id` when the name is empty), typed by the structureRef of the item
    definition its `itemSubjectRef` names; a property without itemSubjectRef is left out, and
    a later property of the same name replaces the type of the earlier one."""
    found: dict[str, str] = {}

    def collect(scope: ET.Element) -> None:
        for child in scope:
            if child.tag == _PROPERTY:
                name = child.get("name") or child.get("id")
                ref = child.get("itemSubjectRef")
                if name is not None and ref is not None:
                    found[name] = item_types.get(ref, _JAVA_OBJECT)
            elif child.tag in _VARIABLE_SCOPES:
                collect(child)

    collect(process)
    return tuple(found.items())


def _dmn_definitions(document: XmlDocument) -> list[ParsedDefinition]:
    root = _expect_root(document, DMN_NAMESPACES)
    decisions = _children(document, root, "decision", CAMUNDA_DMN_NS, root.get("namespace"))
    # Camunda persists a decision requirements definition only for more than one decision
    # (DecisionRequirementsDefinitionDeployer.isDecisionRequirementsDefinitionPersistable).
    if len(decisions) <= 1:
        return decisions
    requirements = ParsedDefinition(
        kind="decision-requirements",
        key=_key(document, root, "decision requirements definition"),
        name=root.get("name"),
        resource=document.resource,
        category=root.get("namespace"),
    )
    linked = [dataclasses.replace(d, decision_requirements_key=requirements.key) for d in decisions]
    return [requirements, *linked]


def _cmmn_definitions(document: XmlDocument) -> list[ParsedDefinition]:
    root = _expect_root(document, CMMN_NAMESPACES)
    return _children(document, root, "case", CAMUNDA_CMMN_NS, root.get("targetNamespace"))


def _children(
    document: XmlDocument,
    root: ET.Element,
    kind: Literal["decision", "case"],
    camunda_ns: str,
    category: str | None,
) -> list[ParsedDefinition]:
    """Decisions or cases: one definition per child element of that name, with the Camunda
    attributes of its namespace (CMMN has no version tag; the attribute is then absent)."""
    found: list[ParsedDefinition] = []
    for element in root.findall(f"{{{namespace_of(root.tag)}}}{kind}"):
        key = _key(document, element, kind)
        found.append(
            ParsedDefinition(
                kind=kind,
                key=key,
                name=element.get("name"),
                resource=document.resource,
                version_tag=element.get(f"{{{camunda_ns}}}versionTag")
                if kind == "decision"
                else None,
                history_time_to_live=_history_time_to_live(
                    document, element, key, element.get(f"{{{camunda_ns}}}historyTimeToLive")
                ),
                category=category,
            )
        )
    return found


def _expect_root(document: XmlDocument, namespaces: dict[str, str]) -> ET.Element:
    root = document.root
    if local_name(root.tag) == "definitions" and namespace_of(root.tag) in namespaces:
        return root
    expected = " or ".join(sorted(set(namespaces.values())))
    found = namespace_of(root.tag)
    found_text = f"'{local_name(root.tag)}'" + (f" in namespace {found}" if found else "")
    raise document.error(
        f"expected a {expected} 'definitions' root element, found {found_text}", root
    )


def _key(document: XmlDocument, element: ET.Element, what: str) -> str:
    """The element's id as a definition key: present, non-empty, short, without whitespace."""
    key = element.get("id")
    if key is None or not key.strip():
        name = element.get("name")
        named = f" '{name}'" if name else ""
        raise document.error(f"{what}{named} has no id; the id is its key", element)
    if len(key) > MAX_KEY_LENGTH:
        raise document.error(
            f"{what} id is {len(key)} characters long, more than {MAX_KEY_LENGTH}",
            element,
            element_id=key[:MAX_KEY_LENGTH],
        )
    if any(character.isspace() for character in key):
        raise document.error(f"{what} id '{key}' contains whitespace", element, element_id=key)
    return key


def _history_time_to_live(
    document: XmlDocument, element: ET.Element, key: str, value: str | None
) -> str | None:
    # Camunda treats an empty attribute as absent and refuses anything but whole days.
    if value is None or not value.strip():
        return None
    value = value.strip()
    if _days(value) is None:
        raise document.error(
            f"cannot parse historyTimeToLive '{value}' of '{key}': expected a number of days "
            "like '30' or 'P30D'",
            element,
            element_id=key,
        )
    return value


def _days(history_time_to_live: str | None) -> int | None:
    if history_time_to_live is None:
        return None
    match = _HISTORY_TIME_TO_LIVE.fullmatch(history_time_to_live)
    if match is None:
        return None
    days = int(match.group(1) or match.group(2))
    return days if days <= _MAX_JAVA_INT else None


def _java_boolean(value: str | None, *, default: bool) -> bool:
    # Java's Boolean.parseBoolean: only "true", in any case, is true.
    return default if value is None else value.lower() == "true"


def _ensure_unique_keys(document: XmlDocument, definitions: list[ParsedDefinition]) -> None:
    seen: set[tuple[str, str]] = set()
    for definition in definitions:
        identity = (definition.kind, definition.key)
        if identity in seen:
            raise document.error(
                f"more than one {definition.kind} with the key '{definition.key}'",
                element_id=definition.key,
            )
        seen.add(identity)
