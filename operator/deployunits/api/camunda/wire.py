"""Pure conversions between cached units and Camunda's wire format: dates, DTOs, media types."""

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from deployunits import constants
from deployunits.api.cache import CachedUnit
from deployunits.models.deploymentunit import Definition

JSONDict = dict[str, Any]

_DATE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([+-])(\d{2}):?(\d{2})$"
)


def format_date(value: datetime | None) -> str | None:
    """Camunda's `yyyy-MM-dd'T'HH:mm:ss.SSSZ` in UTC, e.g. `2013-01-23T14:42:45.000+0000`."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"


def parse_date(text: str) -> datetime:
    """A date in Camunda's format (`+0200` or `+02:00` offsets); ValueError if it is not one."""
    match = _DATE.match(text)
    if match is None:
        raise ValueError(f"not a date: {text!r}")
    year, month, day, hour, minute, second, fraction, sign, off_h, off_m = match.groups()
    offset = timedelta(hours=int(off_h), minutes=int(off_m))
    micros = int((fraction or "0").ljust(6, "0")[:6])
    return datetime(
        int(year),
        int(month),
        int(day),
        int(hour),
        int(minute),
        int(second),
        micros,
        tzinfo=timezone(offset if sign == "+" else -offset),
    )


def self_link(base_url: str, deployment_id: str) -> list[JSONDict]:
    """The one `self` link of a create or redeploy answer."""
    return [{"method": "GET", "href": f"{base_url}/deployment/{deployment_id}", "rel": "self"}]


def deployment_dto(unit: CachedUnit, links: Sequence[JSONDict] = ()) -> JSONDict:
    """DeploymentDto: links, id, name, source, deploymentTime, tenantId (every key present)."""
    spec = unit.spec
    return {
        "links": list(links),
        "id": spec.deployment_id,
        "name": spec.name,
        "source": spec.source,
        "deploymentTime": format_date(unit.status.deployment_time),
        "tenantId": spec.tenant_id,
    }


_DIAGRAM_SUFFIXES = ("png", "jpg", "gif", "svg")
_BPMN_SUFFIXES = ("bpmn20.xml", "bpmn")


def diagram_of(resource: str, key: str, resource_names: Iterable[str]) -> str | None:
    """The process diagram Camunda would pick: `<base><key>.<img>`, then `<base><img>`."""
    names = set(resource_names)
    base = resource
    for suffix in _BPMN_SUFFIXES:
        if resource.endswith(suffix):
            base = resource[: -len(suffix)]
            break
    for suffix in _DIAGRAM_SUFFIXES:
        for candidate in (f"{base}{key}.{suffix}", f"{base}{suffix}"):
            if candidate in names:
                return candidate
    return None


def definitions_maps(unit: CachedUnit) -> JSONDict:
    """The four deployed*Definitions maps, keyed by definition id; null when a kind is absent."""
    spec = unit.spec
    deployment_id = spec.deployment_id
    tenant = spec.tenant_id
    suspended = bool(unit.annotations.get(constants.ACTIVATION_TIME_ANNOTATION))
    resource_names = [r.name for r in unit.status.resources]
    definitions = unit.status.definitions
    drd_ids = {d.key: d.id for d in definitions if d.kind == "decision-requirements"}
    maps: dict[str, JSONDict] = {
        "process": {},
        "case": {},
        "decision": {},
        "decision-requirements": {},
    }
    for item in definitions:
        maps[item.kind][item.id] = _definition_dto(
            item, deployment_id, tenant, suspended, resource_names, drd_ids
        )
    return {
        "deployedProcessDefinitions": maps["process"] or None,
        "deployedCaseDefinitions": maps["case"] or None,
        "deployedDecisionDefinitions": maps["decision"] or None,
        "deployedDecisionRequirementsDefinitions": maps["decision-requirements"] or None,
    }


def _definition_dto(
    item: Definition,
    deployment_id: str,
    tenant: str | None,
    suspended: bool,
    resource_names: Sequence[str],
    drd_ids: dict[str, str],
) -> JSONDict:
    if item.kind == "process":
        return {
            "id": item.id,
            "key": item.key,
            "category": item.category,
            "description": None,
            "name": item.name,
            "version": item.version,
            "resource": item.resource,
            "deploymentId": deployment_id,
            "diagram": diagram_of(item.resource, item.key, resource_names),
            "suspended": suspended,
            "tenantId": tenant,
            "versionTag": item.version_tag,
            "historyTimeToLive": item.history_time_to_live,
            "startableInTasklist": True if item.startable is None else item.startable,
        }
    common: JSONDict = {
        "id": item.id,
        "key": item.key,
        "category": item.category,
        "name": item.name,
        "version": item.version,
        "resource": item.resource,
        "deploymentId": deployment_id,
        "tenantId": tenant,
    }
    if item.kind == "case":
        return {**common, "historyTimeToLive": item.history_time_to_live}
    if item.kind == "decision":
        drd_key = item.decision_requirements_key
        return {
            **common,
            "decisionRequirementsDefinitionId": drd_ids.get(drd_key) if drd_key else None,
            "decisionRequirementsDefinitionKey": drd_key,
            "historyTimeToLive": item.history_time_to_live,
            "versionTag": item.version_tag,
        }
    return common


def deployment_with_definitions(
    unit: CachedUnit, links: Sequence[JSONDict], *, with_definitions: bool = True
) -> JSONDict:
    """DeploymentWithDefinitionsDto; maps all null for a duplicate-filtered answer."""
    body = deployment_dto(unit, links)
    if with_definitions:
        body.update(definitions_maps(unit))
    else:
        body.update(
            {
                "deployedProcessDefinitions": None,
                "deployedCaseDefinitions": None,
                "deployedDecisionDefinitions": None,
                "deployedDecisionRequirementsDefinitions": None,
            }
        )
    return body


def resource_dtos(unit: CachedUnit) -> list[JSONDict]:
    """DeploymentResourceDto of every resource: id, name, deploymentId."""
    return [
        {"id": r.id, "name": r.name, "deploymentId": unit.spec.deployment_id}
        for r in unit.status.resources
    ]


_MEDIA_TYPES = {
    "bpmn": "application/xml",
    "cmmn": "application/xml",
    "dmn": "application/xml",
    "json": "application/json",
    "xml": "application/xml",
    "gif": "image/gif",
    "jpeg": "image/jpeg",
    "jpe": "image/jpeg",
    "jpg": "image/jpeg",
    "png": "image/png",
    "svg": "image/svg+xml",
    "tiff": "image/tiff",
    "tif": "image/tiff",
    "groovy": "text/plain",
    "java": "text/plain",
    "js": "text/plain",
    "php": "text/plain",
    "py": "text/plain",
    "rb": "text/plain",
    "html": "text/html",
    "txt": "text/plain",
}


def java_split(text: str, separator: str) -> list[str]:
    """String.split with a literal separator: trailing empty strings are dropped."""
    parts = text.split(separator)
    while parts and parts[-1] == "":
        parts.pop()
    return parts


def media_type(name: str) -> str:
    """The media type Camunda serves a resource with, by its (case-sensitive) extension."""
    parts = java_split(name.replace("\\", "/"), ".")
    extension = parts[-1] if parts else ""
    return _MEDIA_TYPES.get(extension, "application/octet-stream")


_URL_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-*_")


def url_encode(text: str) -> str:
    """java.net.URLEncoder.encode(text, UTF-8) with `+` written as `%20`."""
    out = []
    for char in text:
        if char in _URL_SAFE:
            out.append(char)
        else:
            out.extend(f"%{byte:02X}" for byte in char.encode("utf-8"))
    return "".join(out)


def content_disposition(name: str) -> str:
    """`attachment; filename="<last segment>"; filename*=UTF-8''<encoded>`."""
    parts = java_split(name.replace("\\", "/"), "/")
    filename = parts[-1] if parts else "data"
    # A header value cannot carry line breaks or quotes inside the quoted form.
    plain = filename.replace('"', "").replace("\r", "").replace("\n", "")
    ascii_plain = plain.encode("latin-1", "replace").decode("latin-1")
    return f"attachment; filename=\"{ascii_plain}\"; filename*=UTF-8''{url_encode(filename)}"
