"""The console's pure parts: rows, pages and versions built from cached units; the change feed.

Matrix: a row shows Ready, a true Stalled and EngineSynced with their messages (the cache drops
the other conditions); a page shows a failed job's explanation and the engine's problems, and
its Events newest first; versions of a key across units, newest first, with resource ids; the
feed's keys since a sequence, a restart once the log no longer reaches back, and waiting.
"""

import asyncio
from typing import Any

import pytest

from deployunits.api.cache import CachedUnit, UnitCache, parse_unit
from deployunits.api.console import views
from deployunits.api.console.feed import UnitFeed
from deployunits.k8s.connect import connect
from deployunits.k8s.connection import Connection
from tests.support.units import listed_unit

SHA = "a" * 64


def condition(type_: str, status: str, reason: str, message: str) -> dict[str, Any]:
    return {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": "2026-12-04T10:00:00Z",
        "observedGeneration": 1,
    }


def unit_body(name: str, rv: int = 1, **status: Any) -> dict[str, Any]:
    return listed_unit(name, rv, deployment_id=f"id-{name}", status=status, source="git")


def cached(name: str, **status: Any) -> CachedUnit:
    unit = parse_unit(unit_body(name, **status))
    assert unit is not None
    return unit


def definition(key: str, version: int, resource: str = "a.bpmn") -> dict[str, Any]:
    return {
        "kind": "process",
        "id": f"{key}:{version}:x",
        "key": key,
        "version": version,
        "resource": resource,
    }


def stored(name: str, id_: str) -> dict[str, Any]:
    return {"id": id_, "name": name, "sha256": SHA, "size": 4}


class TestRows:
    def test_a_row_shows_the_conditions_the_list_needs(self) -> None:
        unit = cached(
            "failed",
            status="DEPLOY_FAILED",
            conditions=[
                condition("Ready", "False", "EngineRefused", "refused"),
                condition("Stalled", "True", "EngineRefused", "refused"),
                condition("Reconciling", "False", "Done", ""),
                condition("EngineSynced", "False", "EngineRefused", "refused"),
            ],
            engine={"name": "camunda"},
        )
        row = views.summary(unit)
        assert (row.status, row.source, row.created) == ("DEPLOY_FAILED", "git", unit.created)
        assert row.ready is not None and (row.ready.status, row.ready.message) == (
            "False",
            "refused",
        )
        assert row.stalled is not None and row.stalled.status == "True"
        assert row.engine == "camunda"
        assert row.engine_synced is not None and row.engine_synced.reason == "EngineRefused"
        assert [c.type for c in unit.status.conditions] == ["Ready", "Stalled", "EngineSynced"]

    def test_a_stored_only_unit_has_no_engine_and_a_false_stalled_is_dropped(self) -> None:
        unit = cached(
            "plain",
            status="DEPLOYED",
            conditions=[
                condition("Ready", "True", "Deployed", "ok"),
                condition("Stalled", "False", "Deployed", ""),
            ],
        )
        row = views.summary(unit)
        assert (row.engine, row.engine_synced, row.stalled) == (None, None, None)
        assert row.model_dump(by_alias=True)["deploymentId"] == "id-plain"


class TestPages:
    def test_a_failed_units_page_has_the_explanation_problems_and_events(self) -> None:
        unit = cached(
            "broken",
            status="DEPLOY_FAILED",
            job={"identifier": "1", "operation": "DEPLOY", "success": False, "explanation": "no"},
            engine={
                "name": "camunda",
                "problems": [{"resource": "a.bpmn", "message": "bad", "mainElementId": "task"}],
            },
        )
        events = [
            {
                "type": "Normal",
                "reason": "Old",
                "message": "a",
                "lastTimestamp": "2026-12-04T10:00:00Z",
            },
            {
                "type": "Warning",
                "reason": "New",
                "message": "b",
                "lastTimestamp": "2026-12-04T11:00:00Z",
            },
        ]
        page = views.detail(unit, events)
        assert page.failure == "no"
        assert [p.main_element_id for p in page.problems] == ["task"]
        assert [e.reason for e in page.events] == ["New", "Old"]
        assert page.events[0].count == 1

    def test_a_deployed_units_page_has_no_failure(self) -> None:
        unit = cached(
            "fine",
            status="DEPLOYED",
            job={"identifier": "1", "operation": "DEPLOY", "success": True, "explanation": "ok"},
            resources=[stored("a.bpmn", "r1")],
        )
        page = views.detail(unit, [], events_error="down")
        assert (page.failure, page.events_error) == (None, "down")
        assert [r.id for r in page.resources] == ["r1"]


class TestVersions:
    def test_versions_of_a_key_across_units_newest_first(self) -> None:
        first = cached(
            "first",
            status="DEPLOYED",
            resources=[stored("a.bpmn", "r1")],
            definitions=[definition("order", 1), definition("other", 1)],
        )
        second = cached(
            "second",
            status="DEPLOYED",
            resources=[stored("a.bpmn", "r2")],
            definitions=[definition("order", 2)],
        )
        found = views.versions([first, second], "order")
        assert [(v.version, v.unit, v.resource_id) for v in found] == [
            (2, "second", "r2"),
            (1, "first", "r1"),
        ]
        assert views.versions([first], "missing") == []


@pytest.fixture
def cache() -> UnitCache:
    return UnitCache(connect(Connection(server="https://127.0.0.1:1")), [])


class TestFeed:
    def test_changed_keys_since_a_sequence(self, cache: UnitCache) -> None:
        async def scenario() -> None:
            feed = UnitFeed(cache, keep=3)
            start = feed.sequence
            cache.apply(None, "ADDED", unit_body("a", 1), 1)
            cache.apply(None, "ADDED", unit_body("b", 2), 2)
            assert feed.since(start) == {("ns", "a"), ("ns", "b")}
            middle = feed.sequence
            cache.apply(None, "DELETED", unit_body("a", 3), 3)
            assert feed.since(middle) == {("ns", "a")}
            assert feed.since(feed.sequence) == set()
            cache.apply(None, "ADDED", unit_body("c", 4), 4)
            cache.apply(None, "ADDED", unit_body("d", 5), 5)
            # Four changes after `start`, three kept: the viewer must start again.
            assert feed.since(start) is None

        asyncio.run(scenario())

    def test_waiting_wakes_on_a_change_and_times_out_without(self, cache: UnitCache) -> None:
        async def scenario() -> None:
            feed = UnitFeed(cache)
            sequence = feed.sequence
            assert await feed.wait(sequence, 0.01) is False
            waiting = asyncio.create_task(feed.wait(sequence, 5))
            await asyncio.sleep(0)
            cache.apply(None, "ADDED", unit_body("a", 1), 1)
            assert await waiting is True
            assert await feed.wait(sequence, 0) is True

        asyncio.run(scenario())
