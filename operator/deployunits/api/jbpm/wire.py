"""kie-remote's wire types (JAXB XML and Jackson JSON), content negotiation, and descriptors.

The schemas here are the engine's, not the custom resource's: JaxbDeploymentUnit,
JaxbDeploymentJobResult, JaxbDeploymentUnitList, JaxbProcessDefinition(List) and
JaxbRestRequestException. XML follows JAXB field order and leaves null elements out; JSON follows
the plain Jackson 1.x mapper: camelCase bean names, every key present, nulls written.
"""

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
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
class JaxbDeploymentUnitList:
    """JaxbDeploymentUnitList."""

    units: Sequence[JaxbDeploymentUnit]
    page_number: int | None = None
    page_size: int | None = None


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
class ProcessDefinitionList:
    """JaxbProcessDefinitionList."""

    definitions: Sequence[ProcessDefinition]
    page_number: int | None = None
    page_size: int | None = None


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


# JSON.


def unit_json(unit: JaxbDeploymentUnit) -> JSONDict:
    return {
        "groupId": unit.group_id,
        "artifactId": unit.artifact_id,
        "version": unit.version,
        "kbaseName": unit.kbase_name,
        "ksessionName": unit.ksession_name,
        "strategy": unit.strategy.value if unit.strategy else None,
        "status": unit.status.value if unit.status else None,
    }


def _definition_json(definition: ProcessDefinition) -> JSONDict:
    return {
        "id": definition.id,
        "name": definition.name,
        "version": definition.version,
        "packageName": definition.package_name,
        "deploymentId": definition.deployment_id,
        "forms": {},
        "variables": dict(definition.variables_in_engine_order()),
    }


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
            return {
                "deploymentUnitList": [unit_json(u) for u in obj.units],
                "pageNumber": obj.page_number,
                "pageSize": obj.page_size,
            }
        case ProcessDefinitionList():
            return {
                "processDefinitionList": [_definition_json(d) for d in obj.definitions],
                "pageNumber": obj.page_number,
                "pageSize": obj.page_size,
            }
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
    return "".join(
        (
            _element("groupId", unit.group_id),
            _element("artifactId", unit.artifact_id),
            _element("version", unit.version),
            _element("kbaseName", unit.kbase_name),
            _element("ksessionName", unit.ksession_name),
            _element("strategy", unit.strategy),
            _element("status", unit.status),
        )
    )


def _definition_children(definition: ProcessDefinition) -> str:
    return "".join(
        (
            _element("id", definition.id),
            _element("name", definition.name),
            _element("version", definition.version),
            _element("package-name", definition.package_name),
            _element("deployment-id", definition.deployment_id),
            "<forms/>",
            _variables_xml(definition),
        )
    )


def _variables_xml(definition: ProcessDefinition) -> str:
    """JAXB's form of a Map<String, String>: one entry with key and value per variable."""
    entries = "".join(
        f"<entry>{_element('key', name)}{_element('value', type_)}</entry>"
        for name, type_ in definition.variables_in_engine_order()
    )
    return f"<variables>{entries}</variables>" if entries else "<variables/>"


def _paging(page_number: int | None, page_size: int | None) -> str:
    return _element("page-number", page_number) + _element("page-size", page_size)


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
            units = "".join(
                f"<deployment-unit>{_unit_children(u)}</deployment-unit>" for u in obj.units
            )
            body = (
                f"<deployment-unit-list>{units}{_paging(obj.page_number, obj.page_size)}"
                "</deployment-unit-list>"
            )
        case ProcessDefinitionList():
            definitions = "".join(
                f"<process-definition>{_definition_children(d)}</process-definition>"
                for d in obj.definitions
            )
            body = (
                f"<process-definition-list>{definitions}"
                f"{_paging(obj.page_number, obj.page_size)}</process-definition-list>"
            )
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
