"""What the console shows, as wire models built purely from cached units and Events."""

from collections.abc import Iterable
from datetime import datetime

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from deployunits.api.cache import CachedUnit
from deployunits.k8s.errors import JSON
from deployunits.models.conditions import ConditionType, find
from deployunits.models.deploymentunit import Definition, EngineProblem, InlineResource


class View(BaseModel):
    """A console wire shape: camelCase on the wire, like the custom resources."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)


class ConditionView(View):
    type: str
    status: str
    reason: str
    message: str


class UnitSummary(View):
    """One row of the units list."""

    namespace: str
    name: str
    deployment_id: str
    display_name: str | None
    source: str | None
    tenant_id: str | None
    #: The jBPM status enum the operator writes (DEPLOYED, DEPLOY_FAILED, ...).
    status: str | None
    desired_state: str
    ready: ConditionView | None
    stalled: ConditionView | None
    #: The bound ProcessEngine, and whether the unit is in it as desired (None: stored only).
    engine: str | None
    engine_synced: ConditionView | None
    deployment_time: datetime | None
    created: str
    deleting: bool


class Session(View):
    """How the page must authenticate, and as whom the current credentials act."""

    auth_mode: str
    user: str | None
    authenticated: bool


class UnitList(View):
    """The units list, and the namespaces the caller may list."""

    units: list[UnitSummary]
    namespaces: list[str]


class UnitKey(View):
    namespace: str
    name: str


class UnitChanges(View):
    """A live update of the list: rows that changed or appeared, and units that went."""

    upserts: list[UnitSummary]
    deletes: list[UnitKey]


class StreamEnd(View):
    """The last event of a stream: the page opens a new one (and is authorized again)."""

    reason: str


class ResourceView(View):
    id: str
    name: str
    sha256: str
    size: int


class EventView(View):
    type: str
    reason: str
    message: str
    count: int
    last_seen: str


class UnitDetail(View):
    """A unit's page: its row, resources, definitions, conditions, Events and refusal."""

    summary: UnitSummary
    resources: list[ResourceView]
    definitions: list[Definition]
    conditions: list[ConditionView]
    #: The failed job's explanation (the operator's or the engine's refusal), if it failed.
    failure: str | None
    #: The engine's parse problems, with the offending elements where the engine names them.
    problems: list[EngineProblem]
    engine_deployment_id: str | None
    events: list[EventView]
    #: Why no Events are shown, when the API server did not answer.
    events_error: str | None
    #: A failed unit stored nothing: its inline sources, to show where the refusal points.
    sources: list[InlineResource]


class VersionView(View):
    """One version of a definition key, in the unit that deployed it."""

    key: str
    version: int
    definition_id: str
    kind: str
    tenant_id: str | None
    namespace: str
    unit: str
    deployment_id: str
    resource_id: str | None
    resource_name: str
    deployment_time: datetime | None


class VersionList(View):
    versions: list[VersionView]


def _condition(unit: CachedUnit, type_: ConditionType) -> ConditionView | None:
    found = find(unit.status.conditions, type_)
    if found is None:
        return None
    return ConditionView(
        type=found.type, status=found.status, reason=found.reason, message=found.message or ""
    )


def summary(unit: CachedUnit) -> UnitSummary:
    """The list row of a cached unit."""
    status = unit.status
    engine_ref = unit.spec.engine_ref
    return UnitSummary(
        namespace=unit.namespace,
        name=unit.name,
        deployment_id=unit.deployment_id,
        display_name=unit.spec.name,
        source=unit.spec.source,
        tenant_id=unit.spec.tenant_id,
        status=status.status.value if status.status else None,
        desired_state=unit.spec.state.value,
        ready=_condition(unit, ConditionType.READY),
        stalled=_condition(unit, ConditionType.STALLED),
        engine=status.engine.name if status.engine else engine_ref.name if engine_ref else None,
        engine_synced=_condition(unit, ConditionType.ENGINE_SYNCED),
        deployment_time=status.deployment_time,
        created=unit.created,
        deleting=unit.deleting,
    )


def _event(event: JSON) -> EventView:
    last = event.get("lastTimestamp") or event.get("eventTime") or ""
    return EventView(
        type=str(event.get("type") or ""),
        reason=str(event.get("reason") or ""),
        message=str(event.get("message") or ""),
        count=int(event.get("count") or 1),
        last_seen=str(last),
    )


def detail(
    unit: CachedUnit,
    events: Iterable[JSON],
    *,
    events_error: str | None = None,
    sources: Iterable[InlineResource] = (),
) -> UnitDetail:
    """The page of a cached unit, with its Events newest first."""
    status = unit.status
    conditions = [
        view
        for type_ in (
            ConditionType.READY,
            ConditionType.STALLED,
            ConditionType.ENGINE_SYNCED,
        )
        if (view := _condition(unit, type_)) is not None
    ]
    shown = sorted((_event(e) for e in events), key=lambda e: e.last_seen, reverse=True)
    return UnitDetail(
        summary=summary(unit),
        resources=[
            ResourceView(id=r.id, name=r.name, sha256=r.sha256, size=r.size)
            for r in status.resources
        ],
        definitions=list(status.definitions),
        conditions=conditions,
        failure=status.job.explanation if status.job and status.job.success is False else None,
        problems=list(status.engine.problems) if status.engine else [],
        engine_deployment_id=status.engine.deployment_id if status.engine else None,
        events=shown,
        events_error=events_error,
        sources=list(sources),
    )


def versions(units: Iterable[CachedUnit], key: str) -> list[VersionView]:
    """Every version of a definition key in these units, newest first."""
    found = []
    for unit in units:
        ids = {r.name: r.id for r in unit.status.resources}
        for definition in unit.status.definitions:
            if definition.key != key:
                continue
            found.append(
                VersionView(
                    key=key,
                    version=definition.version,
                    definition_id=definition.id,
                    kind=definition.kind,
                    tenant_id=unit.spec.tenant_id,
                    namespace=unit.namespace,
                    unit=unit.name,
                    deployment_id=unit.deployment_id,
                    resource_id=ids.get(definition.resource),
                    resource_name=definition.resource,
                    deployment_time=unit.status.deployment_time,
                )
            )
    return sorted(found, key=lambda v: (v.tenant_id or "", -v.version, v.unit))
