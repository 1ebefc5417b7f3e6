"""Pure conversions from cached units to Camunda's wire: DTOs (schemas.py), dates, media types."""

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from deployunits.api.cache import CachedUnit
from deployunits.api.camunda.schemas import (
    AtomLink,
    CaseDefinitionDto,
    DecisionDefinitionDto,
    DecisionRequirementsDefinitionDto,
    DeploymentDto,
    DeploymentResourceDto,
    DeploymentWithDefinitionsDto,
    ProcessDefinitionDto,
)

JSONDict = dict[str, Any]
DefinitionDto = (
    ProcessDefinitionDto
    | CaseDefinitionDto
    | DecisionDefinitionDto
    | DecisionRequirementsDefinitionDto
)

_DATE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([+-])(\d{2}):?(\d{2})$"
)


def format_date(value: datetime | None) -> str | None:
    """Camunda's `yyyy-MM-dd'T'HH:mm:ss.SSSZ` in UTC, e.g. `2013-01-23T14:42:45.000+0000`."""
    if value is None:
        return None
    # A naive time is UTC already; so is one without an offset.
    if value.utcoffset():
        value = value.astimezone(UTC)
    # Formatted by hand: strftime was most of the cost of a listed deployment.
    return (
        f"{value.year}-{value.month:02d}-{value.day:02d}T{value.hour:02d}:{value.minute:02d}:"
        f"{value.second:02d}.{value.microsecond // 1000:03d}+0000"
    )


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


def self_link(base_url: str, deployment_id: str) -> list[AtomLink]:
    """The one `self` link of a create or redeploy answer."""
    return [
        AtomLink.model_construct(
            method="GET", href=f"{base_url}/deployment/{deployment_id}", rel="self"
        )
    ]


def deployment(unit: CachedUnit, links: Sequence[AtomLink] = ()) -> DeploymentDto:
    """DeploymentDto of a unit."""
    spec = unit.spec
    # On the hot list path: `trusted`, not `model_construct`.
    return DeploymentDto.trusted(
        links=list(links),
        id=spec.deployment_id,
        name=spec.name,
        source=spec.source,
        deployment_time=format_date(unit.status.deployment_time),
        tenant_id=spec.tenant_id,
    )


def deployment_dto(unit: CachedUnit, links: Sequence[AtomLink] = ()) -> JSONDict:
    """DeploymentDto as JSON: links, id, name, source, deploymentTime, tenantId (every key)."""
    return deployment(unit, links).dump()


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


#: The fields of DeploymentWithDefinitionsDto that DeploymentDto lacks.
_DEFINITION_MAPS = (
    "deployed_process_definitions",
    "deployed_case_definitions",
    "deployed_decision_definitions",
    "deployed_decision_requirements_definitions",
)


def deployment_with_definitions(
    unit: CachedUnit, links: Sequence[AtomLink], *, with_definitions: bool = True
) -> JSONDict:
    """DeploymentWithDefinitionsDto as JSON; maps all null for a duplicate-filtered answer."""
    return _with_definitions(unit, links, with_definitions).dump()


def definitions_maps(unit: CachedUnit) -> JSONDict:
    """The four deployed*Definitions maps, keyed by definition id; null when a kind is absent."""
    dto = _with_definitions(unit, (), True)
    return dto.model_dump(by_alias=True, mode="json", include=set(_DEFINITION_MAPS))


def _with_definitions(
    unit: CachedUnit, links: Sequence[AtomLink], with_definitions: bool
) -> DeploymentWithDefinitionsDto:
    fields: JSONDict = dict(deployment(unit, links))
    maps = _definitions(unit) if with_definitions else {}
    for name in _DEFINITION_MAPS:
        fields[name] = maps.get(name) or None
    return DeploymentWithDefinitionsDto.model_construct(**fields)


#: Days of history the engine gives a definition whose model sets none (Camunda 7.20 and later:
#: the engine setting `historyTimeToLive`, P180D by default; 7.24 answers 180).
DEFAULT_HISTORY_TIME_TO_LIVE = 180


def _definitions(unit: CachedUnit) -> dict[str, dict[str, DefinitionDto]]:
    """The definitions of a unit by field of DeploymentWithDefinitionsDto, then by id."""
    spec = unit.spec
    deployment_id = spec.deployment_id
    tenant = spec.tenant_id
    resource_names = [r.name for r in unit.status.resources]
    definitions = unit.status.definitions
    drd_ids = {d.key: d.id for d in definitions if d.kind == "decision-requirements"}
    maps: dict[str, dict[str, DefinitionDto]] = {name: {} for name in _DEFINITION_MAPS}
    for item in definitions:
        ttl = (
            DEFAULT_HISTORY_TIME_TO_LIVE
            if item.history_time_to_live is None
            else item.history_time_to_live
        )
        common: JSONDict = {
            "id": item.id,
            "key": item.key,
            "category": item.category,
            "name": item.name,
            "version": item.version,
            "resource": item.resource,
            "deployment_id": deployment_id,
            "tenant_id": tenant,
        }
        dto: DefinitionDto
        if item.kind == "process":
            dto = ProcessDefinitionDto.model_construct(
                **common,
                description=None,
                diagram=diagram_of(item.resource, item.key, resource_names),
                # Camunda 7.24 answers a create with a future deployment-activation-time with
                # `false` too: its definitions are suspended only after the answer is made.
                suspended=False,
                version_tag=item.version_tag,
                history_time_to_live=ttl,
                startable_in_tasklist=True if item.startable is None else item.startable,
            )
        elif item.kind == "case":
            dto = CaseDefinitionDto.model_construct(**common, history_time_to_live=ttl)
        elif item.kind == "decision":
            drd_key = item.decision_requirements_key
            dto = DecisionDefinitionDto.model_construct(
                **common,
                decision_requirements_definition_id=drd_ids.get(drd_key) if drd_key else None,
                decision_requirements_definition_key=drd_key,
                history_time_to_live=ttl,
                version_tag=item.version_tag,
            )
        else:
            dto = DecisionRequirementsDefinitionDto.model_construct(**common)
        maps[_MAP_OF_KIND[item.kind]][item.id] = dto
    return maps


_MAP_OF_KIND = {
    "process": "deployed_process_definitions",
    "case": "deployed_case_definitions",
    "decision": "deployed_decision_definitions",
    "decision-requirements": "deployed_decision_requirements_definitions",
}


def resources(unit: CachedUnit) -> list[DeploymentResourceDto]:
    """DeploymentResourceDto of every resource: id, name, deploymentId."""
    deployment_id = unit.spec.deployment_id
    return [
        DeploymentResourceDto.model_construct(id=r.id, name=r.name, deployment_id=deployment_id)
        for r in unit.status.resources
    ]


def resource_dtos(unit: CachedUnit) -> list[JSONDict]:
    """DeploymentResourceDto of every resource as JSON."""
    return [r.dump() for r in resources(unit)]


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
