"""Camunda query parsing, validation, filtering, sorting and paging over cached units."""

import random
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from deployunits.api.cache import CachedUnit
from deployunits.api.camunda import query
from deployunits.api.camunda.errors import CamundaError
from deployunits.models.deploymentunit import DeploymentUnitSpec, DeploymentUnitStatus


def unit(
    deployment_id: str,
    name: str | None = None,
    *,
    source: str | None = None,
    tenant: str | None = None,
    at: datetime | None = None,
) -> CachedUnit:
    spec = DeploymentUnitSpec.model_validate(
        {
            "deploymentId": deployment_id,
            "name": name,
            "source": source,
            "tenantId": tenant,
            "resources": {"inline": [{"name": "a.bpmn", "content": "<x/>"}]},
        }
    )
    status = DeploymentUnitStatus.model_validate(
        {
            "status": "DEPLOYED",
            "observedGeneration": 1,
            "deploymentTime": (at or datetime(2026, 1, 1, tzinfo=UTC)).isoformat(),
        }
    )
    return CachedUnit(
        namespace="ns",
        name=f"u-{deployment_id}",
        uid=deployment_id,
        resource_version=1,
        generation=1,
        deleting=False,
        annotations={},
        spec=spec,
        status=status,
    )


def error_of(pairs: list[tuple[str, str]], paging: bool = True) -> CamundaError:
    with pytest.raises(CamundaError) as caught:
        query.parse_query(pairs, paging=paging)
    return caught.value


UNITS = [
    unit(
        "c",
        "invoice",
        source="process application",
        tenant="t1",
        at=datetime(2026, 1, 3, tzinfo=UTC),
    ),
    unit("a", "invoice-v2", tenant="t2", at=datetime(2026, 1, 1, tzinfo=UTC)),
    unit("b", None, source="modeler", at=datetime(2026, 1, 2, tzinfo=UTC)),
    unit("d", "Invoice", at=datetime(2026, 1, 4, tzinfo=UTC)),
]


def run_both(pairs: list[tuple[str, str]], units: list[CachedUnit]) -> tuple[list[str], list[str]]:
    """The ids a query selects scanning the sorted units, and starting from the name index."""
    parsed = query.parse_query(pairs)

    def view(_name: str, key: Callable[[CachedUnit], Any]) -> list[CachedUnit]:
        return sorted(units, key=key)

    scanned = query.run(parsed, view)
    indexed = query.run(parsed, view, lambda: query.by_name(units))
    return [u.deployment_id for u in scanned], [u.deployment_id for u in indexed]


def select(pairs: list[tuple[str, str]]) -> list[str]:
    scanned, indexed = run_both(pairs, UNITS)
    assert indexed == scanned
    return scanned


def test_default_order_is_by_id() -> None:
    assert select([]) == ["a", "b", "c", "d"]


@pytest.mark.parametrize(
    ("pairs", "expected"),
    [
        ([("id", "b")], ["b"]),
        ([("name", "invoice")], ["c"]),
        ([("nameLike", "invoice%")], ["a", "c"]),
        ([("nameLike", "%voice")], ["c", "d"]),
        ([("nameLike", "_nvoice")], ["c", "d"]),
        ([("nameLike", "invoice\\%")], []),
        ([("source", "modeler")], ["b"]),
        ([("withoutSource", "true")], ["a", "d"]),
        ([("withoutSource", "false")], ["a", "b", "c", "d"]),
        ([("tenantIdIn", "t1,t2")], ["a", "c"]),
        ([("tenantIdIn", "t1"), ("includeDeploymentsWithoutTenantId", "true")], ["b", "c", "d"]),
        ([("includeDeploymentsWithoutTenantId", "true")], ["a", "b", "c", "d"]),
        ([("withoutTenantId", "true")], ["b", "d"]),
        ([("tenantIdIn", "t1"), ("withoutTenantId", "true")], ["b", "d"]),
        ([("after", "2026-01-02T00:00:00.000+0000")], ["c", "d"]),
        ([("before", "2026-01-02T00:00:00.000+0000")], ["a"]),
        ([("before", "2026-01-02T01:00:00.000+0200")], ["a"]),
        ([("sortBy", "deploymentTime"), ("sortOrder", "desc")], ["d", "c", "b", "a"]),
        ([("sortBy", "name"), ("sortOrder", "asc")], ["b", "d", "c", "a"]),
        ([("sortBy", "tenantId"), ("sortOrder", "desc")], ["a", "c", "d", "b"]),
        ([("sortBy", "id"), ("sortOrder", "desc")], ["d", "c", "b", "a"]),
        ([("firstResult", "1"), ("maxResults", "2")], ["b", "c"]),
        ([("maxResults", "1")], ["a"]),
        ([("firstResult", "3")], ["d"]),
        ([("maxResults", "0")], []),
        ([("maxResults", "-1")], []),
        ([("firstResult", "-1"), ("maxResults", "2")], []),
        ([("id", "c"), ("id", "a")], ["c"]),
        ([("unknown", "x")], ["a", "b", "c", "d"]),
        ([("withoutSource", "true"), ("maxResults", "1"), ("firstResult", "1")], ["d"]),
    ],
)
def test_filters_sorting_and_paging(pairs: list[tuple[str, str]], expected: list[str]) -> None:
    assert select(pairs) == expected


def test_count_ignores_paging() -> None:
    parsed = query.parse_query([("nameLike", "%nvoice%"), ("maxResults", "x")], paging=False)
    assert query.count(parsed, UNITS) == 3
    assert query.count(parsed, UNITS, lambda: query.by_name(UNITS)) == 3


def test_the_name_index_selects_what_a_scan_selects() -> None:
    shuffle = random.Random(7)
    names = [None, "invoice", "invoice 1", "invoice 10", "Invoice", "order", "a_b", "a%b"]
    units = [
        unit(
            f"id-{index:03d}",
            shuffle.choice(names),
            tenant=shuffle.choice([None, "t1", "t2", "t3"]),
            at=datetime(2026, 1, 1 + shuffle.randrange(28), tzinfo=UTC),
        )
        for index in range(300)
    ]
    filters = [
        [("nameLike", "invoice%")],
        [("nameLike", "%1%"), ("tenantIdIn", "t1,t2")],
        [("nameLike", "a\\_b")],
        [("nameLike", "a\\%b"), ("withoutTenantId", "true")],
        [("name", "order"), ("nameLike", "o%")],
        [("name", "missing")],
        [("nameLike", "%"), ("tenantIdIn", "t3"), ("includeDeploymentsWithoutTenantId", "true")],
    ]
    orders = [
        [],
        *(
            [("sortBy", key), ("sortOrder", order)]
            for key in query.SORT_KEYS
            for order in query.SORT_ORDERS
        ),
    ]
    pages = [[], [("maxResults", "7")], [("firstResult", "5"), ("maxResults", "10")]]
    for where in filters:
        for order in orders:
            for paging in pages:
                scanned, indexed = run_both([*where, *order, *paging], units)
                assert indexed == scanned, (where, order, paging)
        counted = query.parse_query(where, paging=False)
        assert query.count(counted, units, lambda: query.by_name(units)) == query.count(
            counted, units
        )


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        (
            [("sortBy", "definitionTime"), ("sortOrder", "asc")],
            "Cannot set query parameter 'sortBy' to value 'definitionTime'",
        ),
        (
            [("sortBy", "name"), ("sortOrder", "up")],
            "Cannot set query parameter 'sortOrder' to value 'up'",
        ),
        (
            [("sortBy", "name")],
            "Only a single sorting parameter specified. sortBy and sortOrder required",
        ),
        (
            [("sortOrder", "asc")],
            "Only a single sorting parameter specified. sortBy and sortOrder required",
        ),
        (
            [("withoutSource", "true"), ("source", "s")],
            'The query parameters "withoutSource" and "source" cannot be used in combination.',
        ),
        (
            [("before", '"2026-01-01T00:00:00.000+0000"')],
            "Cannot set query parameter 'before' to value '\"2026-01-01T00:00:00.000+0000\"': "
            'Cannot convert value ""2026-01-01T00:00:00.000+0000"" to java type java.util.Date',
        ),
        (
            [("after", "yesterday")],
            "Cannot set query parameter 'after' to value 'yesterday': "
            'Cannot convert value "yesterday" to java type java.util.Date',
        ),
        (
            [("withoutTenantId", "yes")],
            "Cannot set query parameter 'withoutTenantId' to value 'yes': "
            "Cannot convert value yes to java type java.lang.Boolean",
        ),
    ],
)
def test_validation_errors(pairs: list[tuple[str, str]], message: str) -> None:
    error = error_of(pairs)
    assert error.status == 400
    assert error.body() == {"type": "InvalidRequestException", "message": message, "code": None}


@pytest.mark.parametrize("value", ["abc", "1.5", "99999999999", " 5"])
def test_a_paging_value_that_is_no_integer_is_a_runtime_404(value: str) -> None:
    error = error_of([("maxResults", value)])
    assert error.status == 404
    assert error.body() == {
        "type": "QueryParamException",
        "message": "HTTP 404 Not Found",
        "code": None,
    }


@pytest.mark.parametrize("value", ["", "+5", "-1"])
def test_an_empty_or_signed_paging_value_is_accepted(value: str) -> None:
    assert query.parse_query([("maxResults", value)]).max_results == (int(value) if value else None)


def test_a_false_without_source_allows_source() -> None:
    assert select([("withoutSource", "false"), ("source", "modeler")]) == ["b"]


def test_like_escapes() -> None:
    assert query.like_pattern("a\\_b").fullmatch("a_b")
    assert not query.like_pattern("a\\_b").fullmatch("axb")
    assert query.like_pattern("a.b%").fullmatch("a.bcd")
    assert not query.like_pattern("a.b").fullmatch("axb")
