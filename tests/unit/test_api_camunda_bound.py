"""What an engine-bound Camunda dialect shows: units under their engine's deployment ids.

Matrix: only visible units synced to the bound ProcessEngine are listed, under the engine's id;
a unit is found by the engine's id and by its own; a unit of another engine, one not yet
pushed and one being deleted are not shown; a change of the engine's record moves the unit;
sorted views follow changes. Then the engine's refusal rebuilt from a unit's record: a
ParseException with its problems by resource, another engine exception, and a message that is
not the engine's.
"""

from typing import Any

import pytest

from deployunits.api.cache import UnitCache
from deployunits.api.camunda.bound import BoundIndex, BoundUnits
from deployunits.api.camunda.errors import engine_refusal
from deployunits.k8s.connect import connect
from deployunits.k8s.connection import Connection
from deployunits.models.deploymentunit import EngineProblem
from tests.unit.test_api_cache import obj


def synced(
    name: str, own_id: str, rv: int, engine: str = "camunda", engine_id: str | None = None
) -> dict[str, Any]:
    body = obj(name, own_id, rv)
    body["status"]["engine"] = {"name": engine, "deploymentId": engine_id}
    return body


@pytest.fixture
def cache() -> UnitCache:
    return UnitCache(connect(Connection(server="https://127.0.0.1:1")), [])


def test_only_units_synced_to_the_engine_show_under_its_ids(cache: UnitCache) -> None:
    index = BoundIndex(cache)
    cache.replace(
        None,
        cache.parse_page(
            [
                synced("a", "own-a", 1, engine_id="e-a"),
                synced("b", "own-b", 2, engine="other", engine_id="e-b"),
                synced("c", "own-c", 3),  # bound, not yet in the engine
                obj("d", "own-d", 4),  # not bound
            ]
        ),
        4,
    )
    view = BoundUnits(index, cache, "camunda")
    assert [u.deployment_id for u in view.deployments("ns")] == ["e-a"]
    by_engine, by_own = view.deployment("ns", "e-a"), view.deployment("ns", "own-a")
    assert by_engine is not None and by_own is not None
    assert by_engine.deployment_id == by_own.deployment_id == "e-a"
    assert (by_engine.name, by_engine.uid) == ("a", "uid-a")
    assert view.deployment("ns", "e-b") is None
    assert view.deployment("ns", "own-c") is None
    assert view.deployment("ns", "own-d") is None
    # The cache itself keeps the unit's own id.
    own = cache.deployment("ns", "own-a")
    assert own is not None and own.deployment_id == "own-a"


def test_changes_move_units_in_and_out(cache: UnitCache) -> None:
    index = BoundIndex(cache)
    view = BoundUnits(index, cache, "camunda")
    cache.replace(None, cache.parse_page([synced("a", "own-a", 1, engine_id="e-1")]), 1)
    assert [u.deployment_id for u in view.sorted_view("ns", "id", lambda u: u.name)] == ["e-1"]
    # Pushed again (the engine lost it): a new engine id.
    cache.apply(None, "MODIFIED", synced("a", "own-a", 2, engine_id="e-2"), 2)
    assert view.deployment("ns", "e-1") is None
    assert [u.deployment_id for u in view.sorted_view("ns", "id", lambda u: u.name)] == ["e-2"]
    deleting = synced("a", "own-a", 3, engine_id="e-2")
    deleting["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    cache.apply(None, "MODIFIED", deleting, 3)
    assert view.deployments("ns") == []
    assert view.sorted_view("ns", "id", lambda u: u.name) == []


def test_a_parse_exception_is_rebuilt_with_its_problems() -> None:
    said = "ENGINE-09005 Could not parse BPMN process. Errors: \n* Bad | resource a.bpmn"
    message = (
        "ProcessEngine 'camunda' refused the deployment: POST /deployment/create: the engine "
        f"refused (400): ParseException: {said}"
    )
    problems = [
        EngineProblem(
            resource="a.bpmn",
            message="Bad",
            line=3,
            column=7,
            main_element_id="flow",
            element_ids=["flow"],
        )
    ]
    error = engine_refusal(message, problems)
    assert error is not None
    assert error.status == 400
    body = error.body()
    assert (body["type"], body["message"], body["code"]) == ("ParseException", said, 0)
    [problem] = body["details"]["a.bpmn"]["errors"]
    assert (problem["line"], problem["column"], problem["mainElementId"]) == (3, 7, "flow")
    assert problem["\u0435lementIds"] == ["flow"]
    assert body["details"]["a.bpmn"]["warnings"] == []


def test_other_refusals_keep_their_status_and_type() -> None:
    message = (
        "ProcessEngine 'camunda' refused the deployment: POST /deployment/create: the engine "
        "refused (500): ProcessEngineException: ENGINE-12018 Exactly one of ..."
    )
    error = engine_refusal(message, [])
    assert error is not None
    assert (error.status, error.type, error.message) == (
        500,
        "ProcessEngineException",
        "ENGINE-12018 Exactly one of ...",
    )
    assert engine_refusal("resource 'a.bpmn' line 1: not well-formed", []) is None
