"""kie-remote's wire types (JAXB XML and Jackson JSON), content negotiation, and descriptors.

The schemas here are the engine's, not the custom resource's: JaxbDeploymentUnit,
JaxbDeploymentJobResult, JaxbDeploymentUnitList, JaxbProcessDefinition(List) and
JaxbRestRequestException. XML follows JAXB field order and leaves null elements out; JSON follows
the plain Jackson 1.x mapper: camelCase bean names, every key present, nulls written.
"""

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, TypeVar
from xml.sax.saxutils import escape

from deployunits.content import javaorder
from deployunits.content.xmlsafe import ContentError, local_name, parse_xml
from deployunits.models.deploymentunit import JobOperation, RuntimeStrategy

XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
XML_MEDIA_TYPE = "application/xml"
JSON_MEDIA_TYPE = "application/json"
#: Largest deployment descriptor accepted.
MAX_DESCRIPTOR_BYTES = 1024 * 1024
JSONDict = dict[str, Any]
_Item = TypeVar("_Item")


class JaxbDeploymentStatus(StrEnum):
    """JaxbDeploymentStatus."""

    NONEXISTENT = "NONEXISTENT"
    ACCEPTED = "ACCEPTED"
    DEPLOYING = "DEPLOYING"
    DEPLOYED = "DEPLOYED"
    DEPLOY_FAILED = "DEPLOY_FAILED"
    UNDEPLOYING = "UNDEPLOYING"
    UNDEPLOY_FAILED = "UNDEPLOY_FAILED"
    UNDEPLOYED = "UNDEPLOYED"


class RequestStatus(StrEnum):
    """JaxbRequestStatus, the `status` of an error body."""

    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    BAD_REQUEST = "BAD_REQUEST"
    FORBIDDEN = "FORBIDDEN"
    PERMISSIONS_CONFLICT = "PERMISSIONS_CONFLICT"
    NOT_FOUND = "NOT_FOUND"


@dataclass(frozen=True)
class JaxbDeploymentUnit:
    """JaxbDeploymentUnit (`identifier` is a field JAXB never fills, so it is never written)."""

    group_id: str
    artifact_id: str
    version: str
    kbase_name: str | None = None
    ksession_name: str | None = None
    strategy: RuntimeStrategy | None = None
    status: JaxbDeploymentStatus | None = None


@dataclass(frozen=True)
class DeploymentJobResult:
    """JaxbDeploymentJobResult (the internal `jobId` is never serialized)."""

    identifier: int | None
    operation: JobOperation
    deployment_unit: JaxbDeploymentUnit
    success: bool | None
    explanation: str | None


@dataclass(frozen=True)
class _Page(Generic[_Item]):
    """A page of a JAXB list: its items, and the paging the client asked for (if any)."""

    items: Sequence[_Item]
    page_number: int | None = None
    page_size: int | None = None


@dataclass(frozen=True)
class JaxbDeploymentUnitList(_Page[JaxbDeploymentUnit]):
    """JaxbDeploymentUnitList."""


@dataclass(frozen=True)
class ProcessDefinition:
    """JaxbProcessDefinition; forms are always an empty map here. `variables` are (name, type)
    pairs in document order; the engine's map is a java.util.HashMap, so both forms write
    them in its order (`javaorder.hash_order`)."""

    id: str
    name: str | None
    version: str | None
    package_name: str | None
    deployment_id: str
    variables: tuple[tuple[str, str], ...] = ()

    def variables_in_engine_order(self) -> list[tuple[str, str]]:
        types = dict(self.variables)
        return [(name, types[name]) for name in javaorder.hash_order(types)]


@dataclass(frozen=True)
class ProcessDefinitionList(_Page[ProcessDefinition]):
    """JaxbProcessDefinitionList."""


@dataclass(frozen=True)
class RestRequestException:
    """JaxbRestRequestException, the body of every error (a stack trace is never sent)."""

    status: RequestStatus
    url: str
    message: str | None = None


WireObject = (
    JaxbDeploymentUnit
    | DeploymentJobResult
    | JaxbDeploymentUnitList
    | ProcessDefinitionList
    | RestRequestException
)


# The fields both forms write.


def _unit_fields(unit: JaxbDeploymentUnit) -> dict[str, object]:
    """JaxbDeploymentUnit's fields in JAXB order, by the name both forms give them."""
    return {
        "groupId": unit.group_id,
        "artifactId": unit.artifact_id,
        "version": unit.version,
        "kbaseName": unit.kbase_name,
        "ksessionName": unit.ksession_name,
        "strategy": unit.strategy,
        "status": unit.status,
    }


def _definition_fields(definition: ProcessDefinition) -> tuple[tuple[str, str, str | None], ...]:
    """JaxbProcessDefinition's simple fields in JAXB order: JSON name, XML name, value."""
    return (
        ("id", "id", definition.id),
        ("name", "name", definition.name),
        ("version", "version", definition.version),
        ("packageName", "package-name", definition.package_name),
        ("deploymentId", "deployment-id", definition.deployment_id),
    )


# JSON.


def unit_json(unit: JaxbDeploymentUnit) -> JSONDict:
    return {
        name: value.value if isinstance(value, StrEnum) else value
        for name, value in _unit_fields(unit).items()
    }


def _definition_json(definition: ProcessDefinition) -> JSONDict:
    return {
        **{name: value for name, _, value in _definition_fields(definition)},
        "forms": {},
        "variables": dict(definition.variables_in_engine_order()),
    }


def _page_json(key: str, items: list[JSONDict], page: _Page[Any]) -> JSONDict:
    return {key: items, "pageNumber": page.page_number, "pageSize": page.page_size}


def to_json(obj: WireObject) -> JSONDict:
    """The Jackson form of a wire object."""
    match obj:
        case JaxbDeploymentUnit():
            return unit_json(obj)
        case DeploymentJobResult():
            return {
                "identifier": obj.identifier,
                "operation": obj.operation.value,
                "deploymentUnit": unit_json(obj.deployment_unit),
                "success": obj.success,
                "explanation": obj.explanation,
            }
        case JaxbDeploymentUnitList():
            return _page_json("deploymentUnitList", [unit_json(u) for u in obj.items], obj)
        case ProcessDefinitionList():
            return _page_json(
                "processDefinitionList", [_definition_json(d) for d in obj.items], obj
            )
        case RestRequestException():
            return {"status": obj.status.value, "url": obj.url, "message": obj.message}


# XML.


def _element(name: str, value: object) -> str:
    """One simple element; JAXB leaves null fields out."""
    if value is None:
        return ""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, StrEnum):
        text = value.value
    else:
        text = str(value)
    return f"<{name}>{escape(text)}</{name}>"


def _unit_children(unit: JaxbDeploymentUnit) -> str:
    return "".join(_element(name, value) for name, value in _unit_fields(unit).items())


def _definition_children(definition: ProcessDefinition) -> str:
    fields = "".join(_element(name, value) for _, name, value in _definition_fields(definition))
    return f"{fields}<forms/>{_variables_xml(definition)}"


def _variables_xml(definition: ProcessDefinition) -> str:
    """JAXB's form of a Map<String, String>: one entry with key and value per variable."""
    entries = "".join(
        f"<entry>{_element('key', name)}{_element('value', type_)}</entry>"
        for name, type_ in definition.variables_in_engine_order()
    )
    return f"<variables>{entries}</variables>" if entries else "<variables/>"


def _page_xml(tag: str, item_tag: str, children: Iterable[str], page: _Page[Any]) -> str:
    """A JAXB list: each item's children in an element of its own, then the paging."""
    items = "".join(f"<{item_tag}>{child}</{item_tag}>" for child in children)
    paging = _element("page-number", page.page_number) + _element("page-size", page.page_size)
    return f"<{tag}>{items}{paging}</{tag}>"


def to_xml(obj: WireObject) -> str:
    """The JAXB form of a wire object, with the marshaller's XML declaration."""
    match obj:
        case JaxbDeploymentUnit():
            body = f"<deployment-unit>{_unit_children(obj)}</deployment-unit>"
        case DeploymentJobResult():
            body = (
                "<deployment-job-result>"
                + _element("identifier", obj.identifier)
                + _element("operation", obj.operation)
                + f"<deploymentUnit>{_unit_children(obj.deployment_unit)}</deploymentUnit>"
                + _element("success", obj.success)
                + _element("explanation", obj.explanation)
                + "</deployment-job-result>"
            )
        case JaxbDeploymentUnitList():
            units = (_unit_children(u) for u in obj.items)
            body = _page_xml("deployment-unit-list", "deployment-unit", units, obj)
        case ProcessDefinitionList():
            definitions = (_definition_children(d) for d in obj.items)
            body = _page_xml("process-definition-list", "process-definition", definitions, obj)
        case RestRequestException():
            # JaxbRestRequestException.prettyPrint(): JAXB_FORMATTED_OUTPUT, four spaces.
            lines = [
                f"    {_element('status', obj.status)}",
                f"    {_element('url', obj.url)}",
                f"    {_element('message', obj.message)}" if obj.message is not None else "",
            ]
            inner = "\n".join(line for line in lines if line)
            return f"{XML_DECLARATION}\n<exception>\n{inner}\n</exception>\n"
    return XML_DECLARATION + body


# Negotiation.


_RANGE = re.compile(r"^\s*([^/;\s]+)/([^;\s]+)\s*(.*)$")
_QUALITY = re.compile(r";\s*q\s*=\s*([0-9.]+)", re.IGNORECASE)


def _quality(ranges: list[tuple[str, str, float]], media_type: str) -> float:
    """The quality the most specific matching range gives a media type (0 if none matches)."""
    main, sub = media_type.split("/")
    best: tuple[int, float] = (-1, 0.0)
    for range_main, range_sub, quality in ranges:
        if range_main == main and range_sub == sub:
            specificity = 2
        elif range_main == main and range_sub == "*":
            specificity = 1
        elif range_main == "*" and range_sub == "*":
            specificity = 0
        else:
            continue
        if specificity > best[0]:
            best = (specificity, quality)
    return best[1]


def prefers_json(accept: str | None) -> bool:
    """RestEasy960Util.getVariant over [XML, JSON]: JSON only when it ranks strictly higher.

    Without an Accept header, with one nothing matches, or on a tie the answer is XML (the first
    variant, and the default). `q=.5` is read as `q=0.5`, as the engine's fix does.
    """
    if not accept:
        return False
    ranges: list[tuple[str, str, float]] = []
    for part in accept.split(","):
        match = _RANGE.match(part.replace("q=.", "q=0."))
        if match is None:
            continue
        quality_match = _QUALITY.search(match.group(3))
        try:
            quality = float(quality_match.group(1)) if quality_match else 1.0
        except ValueError:
            quality = 0.0
        ranges.append((match.group(1).lower(), match.group(2).lower(), quality))
    return _quality(ranges, JSON_MEDIA_TYPE) > _quality(ranges, XML_MEDIA_TYPE)


def render(obj: WireObject, json_wanted: bool) -> tuple[bytes, str]:
    """The body and media type of a wire object in the negotiated variant."""
    if json_wanted:
        return json.dumps(to_json(obj), separators=(",", ":")).encode(), JSON_MEDIA_TYPE
    return to_xml(obj).encode(), XML_MEDIA_TYPE


# Deployment descriptors.


class DescriptorError(ValueError):
    """A deployment descriptor body that cannot be read."""


_AUDIT_MODES = {"JPA", "JMS", "NONE"}
_PERSISTENCE_MODES = {"JPA", "NONE"}
_JSON_ENUMS = {
    "runtimeStrategy": {s.value for s in RuntimeStrategy},
    "auditMode": _AUDIT_MODES,
    "persistenceMode": _PERSISTENCE_MODES,
}
_XML_ENUMS = {
    "runtime-strategy": {s.value for s in RuntimeStrategy},
    "audit-mode": _AUDIT_MODES,
    "persistence-mode": _PERSISTENCE_MODES,
}


@dataclass(frozen=True)
class Descriptor:
    """What a JaxbDeploymentDescriptor says that a unit can carry: its runtime strategy.

    Persistence and audit settings, listeners, globals, work item handlers, environment entries,
    configuration, required roles and classes have no counterpart in a JaxbDeploymentUnit; they
    are read (so a malformed descriptor is refused) and otherwise ignored.
    """

    runtime_strategy: RuntimeStrategy | None = None


def _is_json(content_type: str) -> bool:
    media = content_type.split(";")[0].strip().lower()
    return media == JSON_MEDIA_TYPE or media.endswith("+json")


def is_supported_body(content_type: str) -> bool:
    """Whether a descriptor body of this media type can be read (XML or JSON)."""
    media = content_type.split(";")[0].strip().lower()
    return _is_json(media) or media in ("application/xml", "text/xml") or media.endswith("+xml")


def parse_descriptor(body: bytes, content_type: str) -> Descriptor | None:
    """The descriptor of a deploy body (None when the body is empty)."""
    if not body.strip():
        return None
    if len(body) > MAX_DESCRIPTOR_BYTES:
        raise DescriptorError(f"the deployment descriptor is larger than {MAX_DESCRIPTOR_BYTES}")
    if _is_json(content_type):
        return _json_descriptor(body)
    return _xml_descriptor(body)


def _json_descriptor(body: bytes) -> Descriptor:
    try:
        data = json.loads(body)
    except ValueError as error:
        raise DescriptorError(f"the deployment descriptor is not valid JSON: {error}") from None
    if not isinstance(data, dict):
        raise DescriptorError("the deployment descriptor must be a JSON object")
    for key, allowed in _JSON_ENUMS.items():
        value = data.get(key)
        if value is not None and (not isinstance(value, str) or value not in allowed):
            raise DescriptorError(f"the deployment descriptor's {key} {value!r} does not exist")
    value = data.get("runtimeStrategy")
    return Descriptor(RuntimeStrategy(value) if value is not None else None)


def _xml_descriptor(body: bytes) -> Descriptor:
    try:
        root = parse_xml(body, "deployment descriptor", max_bytes=MAX_DESCRIPTOR_BYTES)
    except ContentError as error:
        raise DescriptorError(str(error)) from None
    if local_name(root.tag) != "deployment-descriptor":
        raise DescriptorError(
            f"the body is a <{local_name(root.tag)}>, not a <deployment-descriptor>"
        )
    strategy: RuntimeStrategy | None = None
    for child in root:
        name = local_name(child.tag)
        allowed = _XML_ENUMS.get(name)
        if allowed is None:
            continue
        text = (child.text or "").strip()
        if text not in allowed:
            raise DescriptorError(f"the deployment descriptor's {name} {text!r} does not exist")
        if name == "runtime-strategy":
            strategy = RuntimeStrategy(text)
    return Descriptor(strategy)
