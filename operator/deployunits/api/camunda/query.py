"""GET /deployment and /count: parse, validate, filter, sort and page as Camunda's query does."""

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from deployunits.api.cache import CachedUnit
from deployunits.api.camunda.errors import CamundaError, invalid_request, query_param_error
from deployunits.api.camunda.wire import parse_date

SORT_KEYS = ("id", "name", "deploymentTime", "tenantId")
SORT_ORDERS = ("asc", "desc")
_INT_MAX = 2**31 - 1
_INT_MIN = -(2**31)


@dataclass(frozen=True)
class DeploymentQuery:
    """The filters, sorting and paging of one request, already validated."""

    id: str | None = None
    name: str | None = None
    name_like: str | None = None
    source: str | None = None
    without_source: bool = False
    before: datetime | None = None
    after: datetime | None = None
    tenant_ids: tuple[str, ...] | None = None
    without_tenant_id: bool = False
    include_without_tenant_id: bool = False
    sort_by: str | None = None
    sort_order: str | None = None
    first_result: int | None = None
    max_results: int | None = None


def first_values(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Only the first value of a repeated parameter counts."""
    values: dict[str, str] = {}
    for key, value in pairs:
        values.setdefault(key, value)
    return values


def _cannot_set(key: str, value: str, reason: str | None = None) -> CamundaError:
    suffix = f": {reason}" if reason else ""
    return invalid_request(400, f"Cannot set query parameter '{key}' to value '{value}'{suffix}")


def _boolean(key: str, value: str) -> bool | None:
    """Jackson's reading of a Boolean: true, false, null, or an integer (non-zero is true)."""
    if value in ("true", "false"):
        return value == "true"
    if value == "null":
        return None
    if re.fullmatch(r"-?\d+", value):
        return int(value) != 0
    raise _cannot_set(key, value, f"Cannot convert value {value} to java type java.lang.Boolean")


def _date(key: str, value: str) -> datetime | None:
    if value == "":
        return None
    try:
        return parse_date(value)
    except ValueError:
        raise _cannot_set(
            key, value, f'Cannot convert value "{value}" to java type java.util.Date'
        ) from None


def _integer(value: str) -> int | None:
    """A JAX-RS @QueryParam Integer: empty is no value; anything else but an int is the
    runtime's 404 QueryParamException (checked against Camunda 7.24: " 5" is one, "+5" is not)."""
    if value == "":
        return None
    if not re.fullmatch(r"[+-]?\d{1,10}", value):
        raise query_param_error()
    number = int(value)
    if not _INT_MIN <= number <= _INT_MAX:
        raise query_param_error()
    return number


def parse_query(pairs: Iterable[tuple[str, str]], *, paging: bool = True) -> DeploymentQuery:
    """Validate the query parameters the way DeploymentQueryDto and QueryUtil do."""
    params = first_values(pairs)
    sort_by = params.get("sortBy")
    if sort_by is not None and sort_by not in SORT_KEYS:
        raise _cannot_set("sortBy", sort_by)
    sort_order = params.get("sortOrder")
    if sort_order is not None and sort_order not in SORT_ORDERS:
        raise _cannot_set("sortOrder", sort_order)
    without_source = (
        _boolean("withoutSource", params["withoutSource"]) if ("withoutSource" in params) else None
    )
    without_tenant = (
        _boolean("withoutTenantId", params["withoutTenantId"])
        if ("withoutTenantId" in params)
        else None
    )
    include_without = (
        _boolean("includeDeploymentsWithoutTenantId", params["includeDeploymentsWithoutTenantId"])
        if "includeDeploymentsWithoutTenantId" in params
        else None
    )
    before = _date("before", params["before"]) if "before" in params else None
    after = _date("after", params["after"]) if "after" in params else None
    tenant_text = params.get("tenantIdIn")
    tenant_ids = (
        tuple(tenant_text.split(",")) if tenant_text is not None and tenant_text.strip() else None
    )
    first_result = max_results = None
    if paging:
        if "firstResult" in params:
            first_result = _integer(params["firstResult"])
        if "maxResults" in params:
            max_results = _integer(params["maxResults"])
    source = params.get("source")
    if without_source and source is not None:
        raise invalid_request(
            400,
            'The query parameters "withoutSource" and "source" cannot be used in combination.',
        )
    if (sort_by is None) != (sort_order is None):
        raise invalid_request(
            400, "Only a single sorting parameter specified. sortBy and sortOrder required"
        )
    return DeploymentQuery(
        id=params.get("id"),
        name=params.get("name"),
        name_like=params.get("nameLike"),
        source=source,
        without_source=bool(without_source),
        before=before,
        after=after,
        tenant_ids=tenant_ids,
        without_tenant_id=bool(without_tenant),
        include_without_tenant_id=bool(include_without),
        sort_by=sort_by,
        sort_order=sort_order,
        first_result=first_result,
        max_results=max_results,
    )


def like_pattern(pattern: str) -> re.Pattern[str]:
    """SQL LIKE with `%` and `_` wildcards and `\\` as escape character (case-sensitive)."""
    out = []
    chars = iter(pattern)
    for char in chars:
        if char == "\\":
            escaped = next(chars, "\\")
            out.append(re.escape(escaped))
        elif char == "%":
            out.append(".*")
        elif char == "_":
            out.append(".")
        else:
            out.append(re.escape(char))
    return re.compile("".join(out), re.DOTALL)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def has_filters(query: DeploymentQuery) -> bool:
    return any(
        (
            query.id is not None,
            query.name is not None,
            query.name_like is not None,
            query.source is not None,
            query.without_source,
            query.before is not None,
            query.after is not None,
            query.tenant_ids is not None,
            query.without_tenant_id,
        )
    )


def matcher(query: DeploymentQuery, *, names_chosen: bool = False) -> Callable[[CachedUnit], bool]:
    """A predicate that keeps the units the query selects: one check per filter the query has,
    cheap ones first (a list query scans the namespace's units until its page is full).
    `names_chosen`: the units come from the names the name filters select (`named`)."""
    checks: list[Callable[[CachedUnit], bool]] = []
    if query.without_tenant_id:
        checks.append(lambda u: u.spec.tenant_id is None)
    elif query.tenant_ids is not None:
        tenants, include_without = frozenset(query.tenant_ids), query.include_without_tenant_id
        checks.append(
            lambda u: include_without if u.spec.tenant_id is None else u.spec.tenant_id in tenants
        )
    if (deployment_id := query.id) is not None:
        checks.append(lambda u: u.spec.deployment_id == deployment_id)
    if (name := query.name) is not None and not names_chosen:
        checks.append(lambda u: u.spec.name == name)
    if query.without_source:
        checks.append(lambda u: u.spec.source is None)
    if (source := query.source) is not None:
        checks.append(lambda u: u.spec.source == source)
    if query.before is not None or query.after is not None:
        checks.append(lambda u: _in_time_range(u, query.before, query.after))
    if query.name_like is not None and not names_chosen:
        like = like_pattern(query.name_like).fullmatch
        checks.append(lambda u: u.spec.name is not None and like(u.spec.name) is not None)
    if not checks:
        return lambda u: True
    if len(checks) == 1:
        return checks[0]
    return lambda u: all(check(u) for check in checks)


#: The units of a namespace by name (None: unnamed), for the name filters.
NameIndex = Mapping[str | None, Sequence[CachedUnit]]


def by_name(units: Iterable[CachedUnit]) -> dict[str | None, list[CachedUnit]]:
    """An index of the units by name."""
    index: dict[str | None, list[CachedUnit]] = {}
    for unit in units:
        index.setdefault(unit.spec.name, []).append(unit)
    return index


def named(query: DeploymentQuery, index: NameIndex) -> list[CachedUnit] | None:
    """The units whose names the query's name filters select, in no order; None if it has none.

    A deployment has one of few names (a CI job deploys under its own, again and again), so
    matching the names once each beats matching every unit.
    """
    if query.name is None and query.name_like is None:
        return None
    names: Iterable[str | None] = (
        index if query.name is None else ([query.name] if query.name in index else [])
    )
    if query.name_like is not None:
        like = like_pattern(query.name_like).fullmatch
        names = [n for n in names if n is not None and like(n) is not None]
    return [unit for n in names if n is not None for unit in index[n]]


def _in_time_range(unit: CachedUnit, before: datetime | None, after: datetime | None) -> bool:
    time = unit.status.deployment_time
    if time is None:
        return False
    time = _aware(time)
    return (before is None or time < before) and (after is None or time > after)


def _text_key(value: str | None) -> tuple[int, str]:
    # NULL sorts first ascending, as in H2 (the engine's default database).
    return (0, "") if value is None else (1, value)


SORTERS: dict[str, Callable[[CachedUnit], Any]] = {
    "id": lambda u: u.spec.deployment_id,
    "name": lambda u: (_text_key(u.spec.name), u.spec.deployment_id),
    "deploymentTime": lambda u: (
        (0, 0.0)
        if u.status.deployment_time is None
        else (1, _aware(u.status.deployment_time).timestamp()),
        u.spec.deployment_id,
    ),
    "tenantId": lambda u: (_text_key(u.spec.tenant_id), u.spec.deployment_id),
}


def page(items: Sequence[CachedUnit], query: DeploymentQuery) -> Sequence[CachedUnit]:
    """QueryUtil: no paging parameter → all; a missing one defaults to 0 / Integer.MAX_VALUE."""
    if query.first_result is None and query.max_results is None:
        return items
    first = query.first_result or 0
    count = _INT_MAX if query.max_results is None else query.max_results
    # Camunda 7.24 (on its H2 database) answers a negative first result, as a negative or zero
    # count, with nothing.
    if first < 0 or count <= 0:
        return []
    return items[first : first + count]


def run(
    query: DeploymentQuery,
    sorted_view: Callable[[str, Callable[[CachedUnit], Any]], Sequence[CachedUnit]],
    names: Callable[[], NameIndex] | None = None,
) -> Sequence[CachedUnit]:
    """The selected units in order: sorted views come from the cache, filters apply on top.

    With an index of names (`names`), a query filtering by name starts from the units of the
    names it selects, rather than from every unit in order.
    """
    sort_by = query.sort_by or "id"
    candidates = named(query, names()) if names is not None else None
    if candidates is not None:
        matches = matcher(query, names_chosen=True)
        # The sort keys end with the deployment id, unique in a view: the order is the view's.
        selected = sorted(
            (u for u in candidates if matches(u)),
            key=SORTERS[sort_by],
            reverse=query.sort_order == "desc",
        )
        return page(selected, query)
    ordered = sorted_view(sort_by, SORTERS[sort_by])
    if query.sort_order == "desc":
        ordered = ordered[::-1]
    if not has_filters(query):
        return page(ordered, query)
    matches = matcher(query)
    if query.first_result is None and query.max_results is None:
        return [u for u in ordered if matches(u)]
    # Stop early once the page is full.
    first = query.first_result or 0
    count = _INT_MAX if query.max_results is None else query.max_results
    # Camunda 7.24 (on its H2 database) answers a negative first result, as a negative or zero
    # count, with nothing.
    if first < 0 or count <= 0:
        return []
    selected_page: list[CachedUnit] = []
    skipped = 0
    for unit in ordered:
        if not matches(unit):
            continue
        if skipped < first:
            skipped += 1
            continue
        selected_page.append(unit)
        if len(selected_page) >= count:
            break
    return selected_page


def count(
    query: DeploymentQuery,
    units: Sequence[CachedUnit],
    names: Callable[[], NameIndex] | None = None,
) -> int:
    """How many units the query selects; from the index of names (`names`) if it filters by
    name."""
    if not has_filters(query):
        return len(units)
    candidates = named(query, names()) if names is not None else None
    if candidates is not None:
        matches = matcher(query, names_chosen=True)
        return sum(1 for unit in candidates if matches(unit))
    matches = matcher(query)
    return sum(1 for unit in units if matches(unit))
