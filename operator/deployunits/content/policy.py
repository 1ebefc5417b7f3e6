"""Custom-code policy: find the places where a model would run code its author wrote.

`find_custom_code` walks a parsed resource (see `xmlsafe`) and names every construct that makes
an engine run a script, load a Java class or evaluate an expression that can call beans:
script tasks, Camunda delegates and listeners, Camunda scripts, jBPM on-entry/on-exit scripts
and Java service tasks, and conditions or DMN expressions written in a script language. Plain
FEEL and JUEL conditions, decision tables and DRL rule constraints are not reported. Deciding
what to do with the findings (refuse, warn) is the caller's business.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final, Literal

from deployunits.content.definitions import (
    BPMN_NS,
    CAMUNDA_BPMN_NS,
    CAMUNDA_CMMN_NS,
    CAMUNDA_DMN_NS,
    CMMN_NAMESPACES,
    DMN_NAMESPACES,
    DROOLS_NS,
)
from deployunits.content.xmlsafe import local_name, namespace_of

__all__ = ["CodeCategory", "CustomCodeFinding", "find_custom_code"]

CodeCategory = Literal["script", "class", "expression"]

#: Camunda still reads the namespace of the Activiti engine it was forked from.
ACTIVITI_NS: Final = "http://activiti.org/bpmn"

_CAMUNDA_NAMESPACES: Final = frozenset({CAMUNDA_BPMN_NS, CAMUNDA_CMMN_NS, ACTIVITI_NS})
_EXPRESSION_HOSTS: Final = frozenset({BPMN_NS, *CMMN_NAMESPACES})
_MODEL_NAMESPACES: Final = frozenset({BPMN_NS, *CMMN_NAMESPACES, *DMN_NAMESPACES})
_PREFIXES: Final = {
    CAMUNDA_BPMN_NS: "camunda",
    CAMUNDA_CMMN_NS: "camunda",
    CAMUNDA_DMN_NS: "camunda",
    ACTIVITI_NS: "activiti",
    DROOLS_NS: "drools",
}

# Camunda attributes on model elements that name a Java class or an expression to call.
_DELEGATE_ATTRIBUTES: Final[dict[str, CodeCategory]] = {
    "class": "class",
    "delegateExpression": "expression",
    "expression": "expression",
    "formHandlerClass": "class",
    "variableMappingClass": "class",
    "variableMappingDelegateExpression": "expression",
}
# Camunda listener elements carry the same choices as unqualified attributes.
_LISTENERS: Final = frozenset(
    {"executionListener", "taskListener", "caseExecutionListener", "variableListener"}
)
_LISTENER_ATTRIBUTES: Final[dict[str, CodeCategory]] = {
    "class": "class",
    "delegateExpression": "expression",
    "expression": "expression",
}
_DROOLS_SCRIPTS: Final = frozenset({"onEntry-script", "onExit-script"})

# Expression languages that evaluate declaratively: FEEL, JUEL, XPath and DRL constraints.
# Anything else (groovy, javascript, python, Java, MVEL...) is a script.
_DECLARATIVE_LANGUAGES: Final = frozenset(
    {
        "",
        "feel",
        "juel",
        "xpath",
        "http://www.omg.org/spec/feel/20140401",
        "http://www.omg.org/spec/dmn/20180521/feel",
        "https://www.omg.org/spec/dmn/20191111/feel",
        "http://www.w3.org/1999/xpath",
        "http://www.jboss.org/drools/rule",
    }
)

# Parts of a model element that are better reported under the element they belong to.
_PART_SUFFIXES: Final = ("EventDefinition", "Expression", "Condition", "Entry")
_PARTS: Final = frozenset(
    {
        "condition",
        "decisionTable",
        "documentation",
        "extensionElements",
        "ifPart",
        "input",
        "ioSpecification",
        "multiInstanceLoopCharacteristics",
        "output",
        "rule",
        "script",
        "standardLoopCharacteristics",
    }
)
# Wrappers that only add noise to a finding's description.
_SILENT_EXTENSIONS: Final = frozenset({"inputOutput"})
# Attributes that tell extension elements apart in a description, most telling first.
_LABEL_ATTRIBUTES: Final = ("event", "name", "key", "scriptFormat")


@dataclass(frozen=True, slots=True)
class CustomCodeFinding:
    """One construct that runs custom code, named so an error message can list it.

    `element` and `element_id` are the model element that owns the construct (a task, an
    event, a process, a decision); `detail` says what inside it is code, e.g.
    "camunda:class=com.acme.Foo" or "camunda:taskListener event=create class=com.acme.Bar".
    """

    resource: str
    element: str
    element_id: str | None
    detail: str
    category: CodeCategory

    def __str__(self) -> str:
        parts = [self.element]
        if self.element_id:
            parts.append(f"'{self.element_id}'")
        if self.detail:
            parts.append(self.detail)
        return " ".join(parts)


@dataclass(frozen=True, slots=True)
class _Owner:
    element: str
    element_id: str | None


def find_custom_code(resource_name: str, root_element: ET.Element) -> list[CustomCodeFinding]:
    """Every custom-code construct in a parsed BPMN, DMN or CMMN resource, in document order.

    Resources in other vocabularies (kmodule.xml, forms) yield nothing: every rule is bound to
    the namespaces of the models and of the Camunda and jBPM extensions.
    """
    findings: list[CustomCodeFinding] = []
    root_owner = _Owner(local_name(root_element.tag), root_element.get("id"))
    # An explicit stack rather than recursion: nesting depth is the author's choice.
    stack: list[tuple[ET.Element, _Owner, tuple[str, ...]]] = [(root_element, root_owner, ())]
    while stack:
        element, owner, trail = stack.pop()
        namespace, name = namespace_of(element.tag), local_name(element.tag)
        in_model = namespace in _MODEL_NAMESPACES
        own_label: str | None = None
        if element is root_element or (in_model and _owns_findings(name, element)):
            owner, trail = _Owner(name, element.get("id")), ()
        else:
            own_label = _label(namespace, name, element)
        prefix = (*trail, own_label) if own_label else trail
        for category, what in _code_at(namespace, name, element):
            findings.append(
                CustomCodeFinding(
                    resource=resource_name,
                    element=owner.element,
                    element_id=owner.element_id,
                    detail=" ".join((*prefix, what) if what else prefix),
                    category=category,
                )
            )
        if not _is_script_body(namespace, name):
            # Only extension elements describe their children; model parts name themselves.
            child_trail = trail if in_model else prefix
            stack.extend((child, owner, child_trail) for child in reversed(element))
    return findings


def _code_at(
    namespace: str, name: str, element: ET.Element
) -> Iterator[tuple[CodeCategory, str | None]]:
    """The custom code an element carries itself: (category, what to add to its description)."""
    if namespace == BPMN_NS and name == "scriptTask":
        script_format = element.get("scriptFormat")
        yield "script", f"scriptFormat={script_format}" if script_format else None
    elif _is_script_body(namespace, name):
        yield "script", None
    implementation = element.get("implementation")
    if namespace == BPMN_NS and implementation is not None and implementation.lower() == "java":
        # jBPM's Java service task: the interface's implementationRef is a class to call.
        yield "class", f"implementation={implementation}"
    if namespace in _CAMUNDA_NAMESPACES and name in _LISTENERS:
        for attribute, category in _LISTENER_ATTRIBUTES.items():
            value = element.get(attribute)
            if value is not None:
                yield category, f"{attribute}={value}"
    for qualified_attribute, value in element.attrib.items():
        attribute_namespace = namespace_of(qualified_attribute)
        attribute = local_name(qualified_attribute)
        if attribute_namespace in _CAMUNDA_NAMESPACES and attribute in _DELEGATE_ATTRIBUTES:
            prefix = _PREFIXES[attribute_namespace]
            yield _DELEGATE_ATTRIBUTES[attribute], f"{prefix}:{attribute}={value}"
    language = element.get("language")
    if namespace in _EXPRESSION_HOSTS and _is_script_language(language):
        yield "script", f"language={language}"
    expression_language = element.get("expressionLanguage")
    if namespace in DMN_NAMESPACES and _is_script_language(expression_language):
        yield "script", f"expressionLanguage={expression_language}"


def _is_script_body(namespace: str, name: str) -> bool:
    """Whether the element is a script in an extension: reported whole, its content unread."""
    if namespace in _CAMUNDA_NAMESPACES:
        return name == "script"
    return namespace == DROOLS_NS and name in _DROOLS_SCRIPTS


def _owns_findings(name: str, element: ET.Element) -> bool:
    """Whether a model element is one users know by its id (a task, a flow, a decision)."""
    if not element.get("id") or name in _PARTS:
        return False
    return not name.endswith(_PART_SUFFIXES)


def _label(namespace: str, name: str, element: ET.Element) -> str | None:
    """How an element that is not an owner appears in a finding's description."""
    if namespace in _MODEL_NAMESPACES:
        return None if name == "extensionElements" else name
    if name in _SILENT_EXTENSIONS:
        return None
    prefix = _PREFIXES.get(namespace)
    label = f"{prefix}:{name}" if prefix else name
    for attribute in _LABEL_ATTRIBUTES:
        value = element.get(attribute)
        if value is not None:
            return f"{label} {attribute}={value}"
    return label


def _is_script_language(language: str | None) -> bool:
    if language is None:
        return False
    return language.strip().lower().rstrip("/") not in _DECLARATIVE_LANGUAGES
