"""Drills: a process engine's faults while bound units are pushed to it.

- engine stop and start: an engine whose database is a file (it keeps its data) is stopped
  hard (kill -9) at the first push of a burst of units, stays down, and is started again;
- engine restart with lost data: an engine with an in-memory database (H2, as the dev engine)
  holds a namespace's synced units and is restarted empty; the resync pushes each unit again;
- operator killed mid-push: kill -9 of the operator while a burst is being pushed, then a
  restart; every push that reached the engine unrecorded is found, not repeated.

What must hold each time: every unit synced, each exactly once in the engine (its recorded
deployment, and no other of its name); the figures say how long it took and what it cost in
engine calls.
"""

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from devcluster.processes import OperatorProcess, wait_for
from tests.drills.figures import Figures
from tests.support.cluster import Cluster
from tests.support.engine import (
    RunningEngine,
    add_engine,
    bound_unit,
    call,
    camunda7_engine,
)
from tests.support.metrics import scrape
from tests.support.models import bpmn

pytestmark = pytest.mark.timeout(900)

UNITS = 100
RESYNC_SECONDS = 5
#: A slow shared machine: the drills wait long, but everything must converge.
CONVERGE_TIMEOUT = 600.0


@pytest.fixture
def persistent_engine(tmp_path: Path) -> Iterator[RunningEngine]:
    with camunda7_engine(tmp_path / "persistent", persistent=True) as engine:
        yield engine


@pytest.fixture
def memory_engine(tmp_path: Path) -> Iterator[RunningEngine]:
    with camunda7_engine(tmp_path / "memory") as engine:
        yield engine


def burst(
    cluster: Cluster, namespace: str, engine: RunningEngine, operator: OperatorProcess
) -> list[str]:
    """A ProcessEngine for `engine` and UNITS units bound to it, applied at once."""
    add_engine(cluster, namespace, engine, resync=RESYNC_SECONDS)
    cluster.wait_condition("camunda", namespace, "Ready", operator, kind="pe")
    names = [f"unit-{i:03d}" for i in range(UNITS)]
    units = [
        bound_unit(namespace, n, {f"{n}.bpmn": bpmn(f"{namespace}_{n}".replace("-", "_")).encode()})
        for n in names
    ]
    cluster.apply_objects(namespace, *units)
    return names


def in_engine(engine: RunningEngine) -> dict[str, list[str]]:
    """Deployment ids in the engine by deployment name."""
    found: dict[str, list[str]] = {}
    for deployment in call(engine.connection(), lambda client: client.deployments()):
        found.setdefault(str(deployment.name), []).append(deployment.id)
    return found


def recorded(cluster: Cluster, namespace: str) -> dict[str, str | None]:
    """Each unit's recorded engine deployment id (None: not synced)."""
    items = json.loads(cluster.kubectl("get", "du", "-n", namespace, "-o", "json").stdout)["items"]
    out: dict[str, str | None] = {}
    for item in items:
        status = item.get("status") or {}
        synced = status.get("status") == "DEPLOYED"
        out[item["metadata"]["name"]] = (
            (status.get("engine") or {}).get("deploymentId") if synced else None
        )
    return out


def each_once(
    cluster: Cluster, namespace: str, names: list[str], engine: RunningEngine
) -> Callable[[], bool]:
    def check() -> bool:
        units = recorded(cluster, namespace)
        deployments = in_engine(engine)
        return all(
            units.get(n) is not None and deployments.get(f"{namespace}-{n}") == [units[n]]
            for n in names
        )

    return check


def calls(operator: OperatorProcess) -> dict[str, float]:
    """The operator's engine calls so far, by call."""
    prefix = 'deployunits_engine_calls_total{call="'
    return {
        key[len(prefix) : -2]: value
        for key, value in scrape(operator).items()
        if key.startswith(prefix)
    }


def record_calls(
    figures: Figures, drill: str, before: dict[str, float], after: dict[str, float]
) -> None:
    for call_name in ("create", "lookup", "get", "list"):
        spent = after.get(call_name, 0.0) - before.get(call_name, 0.0)
        figures.record(drill, f"engine calls '{call_name}' per unit", spent / UNITS)


def delete_all(
    cluster: Cluster, namespace: str, engine: RunningEngine, figures: Figures, drill: str
) -> None:
    """Delete the drill's units while their engine runs: their deployments leave it."""
    with_prefix = f"{namespace}-"
    started = time.monotonic()
    cluster.kubectl("delete", "du", "--all", "-n", namespace, "--timeout=300s")
    figures.record(drill, "deletion of all units (s)", time.monotonic() - started)
    left = [n for n in in_engine(engine) if n.startswith(with_prefix)]
    assert not left, left


def assert_once(cluster: Cluster, namespace: str, names: list[str], engine: RunningEngine) -> None:
    units = recorded(cluster, namespace)
    deployments = in_engine(engine)
    twice = {
        n: deployments.get(f"{namespace}-{n}")
        for n in names
        if len(deployments.get(f"{namespace}-{n}") or []) != 1
    }
    assert not twice, twice
    assert {units[n] for n in names} == {deployments[f"{namespace}-{n}"][0] for n in names}


def test_engine_stop_and_start(
    cluster: Cluster,
    operator: OperatorProcess,
    namespace: str,
    persistent_engine: RunningEngine,
    figures: Figures,
) -> None:
    drill = "engine stop and start"
    before = calls(operator)
    names = burst(cluster, namespace, persistent_engine, operator)
    wait_for(lambda: len(in_engine(persistent_engine)) > 0, timeout=120, what="a first push")
    persistent_engine.process.kill()
    stopped = time.monotonic()
    pushed_before = sum(1 for v in recorded(cluster, namespace).values() if v)
    time.sleep(15)
    persistent_engine.process.start()
    started = time.monotonic()
    figures.record(drill, "units", UNITS)
    figures.record(drill, "units synced before the stop", pushed_before)
    figures.record(drill, "engine down (s)", started - stopped)
    figures.record(drill, "engine start (s)", persistent_engine.process.started_in or 0.0)
    kept = sum(len(ids) for ids in in_engine(persistent_engine).values())
    figures.record(drill, "deployments the engine kept across the stop", kept)
    wait_for(
        each_once(cluster, namespace, names, persistent_engine),
        timeout=CONVERGE_TIMEOUT,
        what="every unit in the engine, once",
    )
    figures.record(drill, "all synced after the start (s)", time.monotonic() - started)
    time.sleep(2 * RESYNC_SECONDS)
    assert_once(cluster, namespace, names, persistent_engine)
    record_calls(figures, drill, before, calls(operator))
    delete_all(cluster, namespace, persistent_engine, figures, drill)


def test_engine_restart_with_lost_data(
    cluster: Cluster,
    operator: OperatorProcess,
    namespace: str,
    memory_engine: RunningEngine,
    figures: Figures,
) -> None:
    drill = "engine restart with lost data"
    names = burst(cluster, namespace, memory_engine, operator)
    wait_for(
        each_once(cluster, namespace, names, memory_engine),
        timeout=CONVERGE_TIMEOUT,
        what="every unit in the engine, once",
    )
    first = recorded(cluster, namespace)
    before = calls(operator)
    memory_engine.process.stop()
    memory_engine.process.start()
    started = time.monotonic()
    assert in_engine(memory_engine) == {}, "the restarted engine kept its data"
    wait_for(
        each_once(cluster, namespace, names, memory_engine),
        timeout=CONVERGE_TIMEOUT,
        what="every unit pushed again, once",
    )
    figures.record(drill, "units", UNITS)
    figures.record(drill, "resyncSeconds", RESYNC_SECONDS)
    figures.record(drill, "all restored after the start (s)", time.monotonic() - started)
    again = recorded(cluster, namespace)
    assert all(again[n] != first[n] for n in names), "a unit kept an id the engine lost"
    events = cluster.events(namespace, "reason=EngineDeploymentRestored")
    figures.record(
        drill, "EngineDeploymentRestored events", sum(e.get("count") or 1 for e in events)
    )
    time.sleep(2 * RESYNC_SECONDS)
    assert_once(cluster, namespace, names, memory_engine)
    record_calls(figures, drill, before, calls(operator))
    delete_all(cluster, namespace, memory_engine, figures, drill)


def test_operator_killed_mid_push(
    cluster: Cluster,
    namespace: str,
    own_operator: OperatorProcess,
    camunda7: RunningEngine,
    figures: Figures,
) -> None:
    drill = "operator kill -9 mid-push"
    names = burst(cluster, namespace, camunda7, own_operator)

    def ours() -> int:
        return sum(
            len(ids)
            for name, ids in in_engine(camunda7).items()
            if name.startswith(f"{namespace}-")
        )

    wait_for(lambda: ours() > 0, timeout=120, what="a first push")
    at_kill = ours()
    own_operator.kill()
    killed = time.monotonic()
    synced_at_kill = sum(1 for v in recorded(cluster, namespace).values() if v)
    own_operator.start(timeout=120)
    figures.record(drill, "units", UNITS)
    figures.record(drill, "in the engine at the kill", at_kill)
    figures.record(drill, "recorded on units at the kill", synced_at_kill)
    figures.record(drill, "restart (s)", time.monotonic() - killed)
    before = calls(own_operator)
    wait_for(
        each_once(cluster, namespace, names, camunda7),
        timeout=CONVERGE_TIMEOUT,
        what="every unit in the engine, once",
    )
    figures.record(drill, "all synced after the kill (s)", time.monotonic() - killed)
    after = calls(own_operator)
    figures.record(
        drill, "creates after the restart", after.get("create", 0.0) - before.get("create", 0.0)
    )
    figures.record(
        drill, "look-ups after the restart", after.get("lookup", 0.0) - before.get("lookup", 0.0)
    )
    time.sleep(2 * RESYNC_SECONDS)
    deployments = {
        n: ids for n, ids in in_engine(camunda7).items() if n.startswith(f"{namespace}-")
    }
    duplicates = sum(len(ids) - 1 for ids in deployments.values())
    figures.record(drill, "duplicate engine deployments", duplicates)
    assert duplicates == 0, {n: ids for n, ids in deployments.items() if len(ids) > 1}
    assert len(deployments) == UNITS
    delete_all(cluster, namespace, camunda7, figures, drill)
