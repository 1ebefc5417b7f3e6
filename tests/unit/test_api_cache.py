"""The watch-fed unit cache: indexes by deployment id, visibility, relists, waiting for changes."""

import asyncio
from typing import Any

import pytest

from deployunits.api.cache import UnitCache
from deployunits.k8s.connect import connect
from deployunits.k8s.connection import Connection
from tests.support.units import listed_unit


def obj(
    name: str,
    deployment_id: str,
    rv: int,
    *,
    status: str | None = "DEPLOYED",
    observed: int = 1,
    deleting: bool = False,
    duplicate_of: str | None = None,
    namespace: str = "ns",
) -> dict[str, Any]:
    shown: dict[str, Any] = {"status": status, "observedGeneration": observed}
    if duplicate_of:
        shown["duplicateOf"] = duplicate_of
    body = listed_unit(
        name,
        rv,
        deployment_id=deployment_id,
        namespace=namespace,
        status=shown if status is not None else None,
    )
    if deleting:
        body["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return body


@pytest.fixture
def cache() -> UnitCache:
    kube = connect(Connection(server="https://127.0.0.1:1"))
    return UnitCache(kube, [])


def test_visibility_and_indexes(cache: UnitCache) -> None:
    cache.replace(
        None,
        cache.parse_page(
            [
                obj("a", "dep-a", 1),
                obj("b", "dep-b", 2, status="DEPLOYING"),
                obj("c", "dep-c", 3, deleting=True),
                obj("d", "dep-d", 4, duplicate_of="dep-a"),
                obj("e", "dep-e", 5, namespace="other"),
            ]
        ),
        5,
    )
    assert [u.deployment_id for u in cache.deployments("ns")] == ["dep-a"]
    assert cache.deployment("ns", "dep-b") is None
    assert cache.units_with_id("ns", "dep-b")[0].name == "b"
    assert cache.deployment("other", "dep-e") is not None
    cache.apply(None, "MODIFIED", obj("b", "dep-b", 6), 6)
    assert cache.deployment("ns", "dep-b") is not None
    cache.apply(None, "DELETED", obj("a", "dep-a", 7), 7)
    assert cache.deployment("ns", "dep-a") is None
    assert cache.units_with_id("ns", "dep-a") == []
    # An older event never replaces a newer object.
    cache.apply(None, "MODIFIED", obj("b", "dep-b", 3, status="DEPLOYING"), 7)
    assert cache.deployment("ns", "dep-b") is not None


def test_a_relist_drops_what_is_gone(cache: UnitCache) -> None:
    cache.replace(None, cache.parse_page([obj("a", "dep-a", 1), obj("b", "dep-b", 2)]), 2)
    cache.replace(None, cache.parse_page([obj("b", "dep-b", 2)]), 9)
    assert [u.deployment_id for u in cache.deployments("ns")] == ["dep-b"]


def test_sorted_views_follow_changes(cache: UnitCache) -> None:
    cache.replace(None, cache.parse_page([obj("b", "dep-b", 1), obj("a", "dep-a", 2)]), 2)

    def key(unit: Any) -> str:
        return str(unit.deployment_id)

    assert [u.deployment_id for u in cache.sorted_view("ns", "id", key)] == ["dep-a", "dep-b"]
    cache.apply(None, "ADDED", obj("c", "dep-0", 3), 3)
    assert [u.deployment_id for u in cache.sorted_view("ns", "id", key)] == [
        "dep-0",
        "dep-a",
        "dep-b",
    ]


def test_waiting_for_an_object_and_a_version(cache: UnitCache) -> None:
    async def scenario() -> None:
        cache.replace(None, [], 1)
        waiter = asyncio.create_task(
            cache.wait_for("ns", "a", lambda u: u is not None and u.reconciled, 5)
        )
        version = asyncio.create_task(cache.wait_version("ns", 3, 5))
        await asyncio.sleep(0)
        cache.apply(None, "ADDED", obj("a", "dep-a", 2, status="DEPLOYING"), 2)
        await asyncio.sleep(0)
        assert not waiter.done()
        assert not version.done()
        cache.apply(None, "MODIFIED", obj("a", "dep-a", 3), 3)
        unit = await waiter
        assert unit is not None and unit.visible
        await version
        with pytest.raises(TimeoutError):
            await cache.wait_for("ns", "missing", lambda u: u is not None, 0.01)

    asyncio.run(scenario())


def test_readiness_needs_a_synced_live_watch(cache: UnitCache) -> None:
    assert not cache.ready("ns")
    assert cache.serves("anything")
