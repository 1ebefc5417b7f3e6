"""Drill: the operator killed (-9) twice while 200 deploy, undeploy and redeploy jobs are in flight.

Before the burst, 50 units are deployed to be undeployed later and 4 units are deployed as
sources of Redeploys. Then 100 new units (sharing 8 process keys over two tenants, so versions
contend), 50 undeploys and 50 Redeploys (a fifth of them copy units of the burst itself) are
submitted at once to the API server. The drill's own operator is killed while jobs are
unfinished, restarted, killed again further on, and restarted. Afterwards every job must have
its final state, every Redeploy exactly its one unit with the content it asked for, and the
versions per (kind, key, tenant) must be 1..n.
"""

import asyncio
import json
import random
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from deployunits.constants import REDEPLOY_REQUEST_LABEL
from deployunits.k8s.connection import Connection
from deployunits.k8s.raw import KubeClient, core_path, custom_path
from devcluster.processes import OperatorProcess
from tests.drills.figures import Figures
from tests.support.cluster import Cluster, condition
from tests.support.models import bpmn, dmn

DRILL = "operator crash"
UNITS, REDEPLOYS = "deploymentunits", "redeploys"
DEPLOYS, UNDEPLOYS, REDEPLOY_JOBS = 100, 50, 50
SHARED_KEYS, SOURCES = 8, 4
TENANTS = ("", "acme")
#: Fractions of all jobs finished at which the operator is killed: early, then later on.
KILL_AT = (0.1, 0.5)
#: A slow shared machine: the drill waits long, but every job must still end up final.
FINAL_TIMEOUT = 600.0


@dataclass(frozen=True)
class Job:
    """One job of the burst: its kind (which final state it must reach) and its object."""

    kind: str  # "deploy", "undeploy" or "redeploy"
    name: str


def unit_body(name: str, tenant: str, resources: dict[str, str], **spec: Any) -> dict[str, Any]:
    body_spec: dict[str, Any] = {
        "deploymentId": name,
        "name": name,
        "resources": {"inline": [{"name": n, "content": c} for n, c in resources.items()]},
        **spec,
    }
    if tenant:
        body_spec["tenantId"] = tenant
    return {
        "apiVersion": "bpm.deployunits.io/v1alpha1",
        "kind": "DeploymentUnit",
        "metadata": {"name": name},
        "spec": body_spec,
    }


def deploy_resources(index: int) -> dict[str, str]:
    """Every unit has a shared process key; every third also a shared decision key."""
    resources = {"p.bpmn": bpmn(f"shared-{index % SHARED_KEYS}")}
    if index % 3 == 0:
        resources["r.dmn"] = dmn(f"rule-{index % SOURCES}")
    return resources


def source_resources(index: int) -> dict[str, str]:
    """A Redeploy source: its keys are among the ones the new units deploy too."""
    return {
        f"s{index}.bpmn": bpmn(f"shared-{index}"),
        f"s{index}.dmn": dmn(f"rule-{index}"),
        f"own{index}.bpmn": bpmn(f"source-only-{index}"),
    }


def redeploy_source(index: int) -> str:
    """Every fifth request redeploys a unit of the burst itself, which is still deploying."""
    return f"d-{index}" if index % 5 == 4 else f"s-{index % SOURCES}"


def redeploy_body(index: int) -> dict[str, Any]:
    """Odd requests redeploy everything, even ones a subset of a prepared source by name."""
    source = redeploy_source(index)
    spec: dict[str, Any] = {"deploymentId": source}
    if index % 2 == 0 and source.startswith("s-"):
        spec["resourceNames"] = [f"s{index % SOURCES}.bpmn", f"own{index % SOURCES}.bpmn"]
    return {
        "apiVersion": "bpm.deployunits.io/v1alpha1",
        "kind": "Redeploy",
        "metadata": {"name": f"r-{index}"},
        "spec": spec,
    }


def expected_redeployed_names(index: int) -> set[str]:
    source = redeploy_source(index)
    if source.startswith("d-"):
        return set(deploy_resources(index))
    if index % 2 == 0:
        return {f"s{index % SOURCES}.bpmn", f"own{index % SOURCES}.bpmn"}
    return set(source_resources(index % SOURCES))


def settled_unit(unit: dict[str, Any]) -> bool:
    status = unit.get("status") or {}
    return bool(
        status.get("observedGeneration") == unit["metadata"].get("generation")
        and status.get("status") in ("DEPLOYED", "DEPLOY_FAILED", "UNDEPLOYED", "UNDEPLOY_FAILED")
    )


def finished_request(request: dict[str, Any]) -> bool:
    return any(
        (condition(request, kind) or {}).get("status") == "True"
        for kind in ("Succeeded", "Stalled")
    )


class Namespace:
    """The drill's view of its namespace through the API server."""

    def __init__(self, kube: KubeClient, name: str) -> None:
        self.kube, self.name = kube, name

    async def items(self, plural: str) -> dict[str, dict[str, Any]]:
        listed = await self.kube.get(custom_path(plural, self.name))
        return {item["metadata"]["name"]: item for item in listed["items"]}

    async def finished(self, jobs: list[Job]) -> set[Job]:
        """The jobs that have reached a final state."""
        units, requests = await self.items(UNITS), await self.items(REDEPLOYS)
        done: set[Job] = set()
        for job in jobs:
            if job.kind == "redeploy":
                found = requests.get(job.name)
                if found is not None and finished_request(found):
                    done.add(job)
            else:
                found = units.get(job.name)
                if found is not None and settled_unit(found):
                    done.add(job)
        return done

    async def wait(
        self,
        predicate: Callable[[], Awaitable[bool]],
        seconds: float,
        what: str,
        interval: float = 0.2,
    ) -> None:
        deadline = time.monotonic() + seconds
        while not await predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {seconds:.0f}s waiting for {what}")
            await asyncio.sleep(interval)


async def create_all(
    kube: KubeClient, namespace: str, plural: str, bodies: list[dict[str, Any]]
) -> None:
    await asyncio.gather(*(kube.create(custom_path(plural, namespace), body) for body in bodies))


async def prepare(space: Namespace) -> None:
    """Units to undeploy and Redeploy sources, deployed before the burst."""
    retiring = [
        unit_body(f"u-{i}", TENANTS[i % 2], {"old.bpmn": bpmn(f"retire-{i % 5}")})
        for i in range(UNDEPLOYS)
    ]
    sources = [unit_body(f"s-{i}", TENANTS[i % 2], source_resources(i)) for i in range(SOURCES)]
    await create_all(space.kube, space.name, UNITS, retiring + sources)
    names = {b["metadata"]["name"] for b in retiring + sources}

    async def all_deployed() -> bool:
        units = await space.items(UNITS)
        return all(
            n in units and settled_unit(units[n]) and units[n]["status"]["status"] == "DEPLOYED"
            for n in names
        )

    await space.wait(all_deployed, FINAL_TIMEOUT, "the prepared units to be deployed", 1.0)


async def submit(space: Namespace, jobs: list[Job]) -> None:
    """Every job of the burst at once, in a shuffled order.

    A Redeploy of a unit of the burst is created once that unit exists (not yet deployed): one
    created before its source would rightly be refused as NotFound.
    """
    created = {job.name: asyncio.Event() for job in jobs if job.kind == "deploy"}

    async def one(job: Job) -> None:
        index = int(job.name.split("-")[1])
        if job.kind == "deploy":
            body = unit_body(job.name, TENANTS[index % 2], deploy_resources(index))
            await space.kube.create(custom_path(UNITS, space.name), body)
            created[job.name].set()
        elif job.kind == "undeploy":
            patch = {"spec": {"state": "Undeployed"}}
            await space.kube.patch(custom_path(UNITS, space.name, job.name), patch)
        else:
            source = redeploy_source(index)
            if source in created:
                await created[source].wait()
            await space.kube.create(custom_path(REDEPLOYS, space.name), redeploy_body(index))

    await asyncio.gather(*(one(job) for job in jobs))


async def kill_when(
    space: Namespace,
    operator: OperatorProcess,
    jobs: list[Job],
    at_least: int,
    number: int,
    figures: Figures,
) -> int:
    """Kill -9 once `at_least` jobs are final; record and return how many were unfinished."""

    async def far_enough() -> bool:
        return len(await space.finished(jobs)) >= at_least

    await space.wait(
        far_enough, FINAL_TIMEOUT, f"{at_least} jobs to finish before kill {number}", 0.05
    )
    operator.kill()
    # Counted after the process is gone: nothing it had not written by now is written.
    finished = len(await space.finished(jobs))
    in_flight = len(jobs) - finished
    figures.record(DRILL, f"jobs finished before kill {number}", finished)
    figures.record(DRILL, f"jobs in flight at kill {number}", in_flight)
    return in_flight


async def run_drill(
    kubeconfig: Path, namespace: str, operator: OperatorProcess, figures: Figures
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    kube = KubeClient(Connection.load(str(kubeconfig)), max_connections=64)
    try:
        space = Namespace(kube, namespace)
        await prepare(space)
        jobs = (
            [Job("deploy", f"d-{i}") for i in range(DEPLOYS)]
            + [Job("undeploy", f"u-{i}") for i in range(UNDEPLOYS)]
            + [Job("redeploy", f"r-{i}") for i in range(REDEPLOY_JOBS)]
        )
        random.Random(8).shuffle(jobs)
        await submit(space, jobs)
        in_flight = []
        for number, fraction in enumerate(KILL_AT, start=1):
            at_least = int(len(jobs) * fraction)
            in_flight.append(await kill_when(space, operator, jobs, at_least, number, figures))
            restarted = time.monotonic()
            operator.start(timeout=120)
        assert all(count > 0 for count in in_flight), f"no job was in flight at a kill: {in_flight}"

        async def all_final() -> bool:
            return len(await space.finished(jobs)) == len(jobs)

        await space.wait(all_final, FINAL_TIMEOUT, "every job to reach a final state", 0.5)
        figures.record(DRILL, "seconds from restart until all final", time.monotonic() - restarted)
        events = await kube.get(core_path("events", namespace))
        check_done_once(events["items"])
        return await space.items(UNITS), await space.items(REDEPLOYS)
    finally:
        await kube.aclose()


def check_done_once(events: list[dict[str, Any]]) -> None:
    """No unit deployed or undeployed twice, no request finished twice (events may be lost)."""
    done = Counter(
        (event["involvedObject"]["name"], event["reason"])
        for event in events
        if event["reason"] in ("Deployed", "Undeployed", "Succeeded", "Stalled")
    )
    assert [key for key, n in done.items() if n > 1] == [], "an outcome was reached twice"


def check_jobs(units: dict[str, dict[str, Any]], requests: dict[str, dict[str, Any]]) -> None:
    """The outcome each job must have: none of them has a reason to fail."""
    for i in range(DEPLOYS):
        unit = units[f"d-{i}"]
        assert unit["status"]["status"] == "DEPLOYED", json.dumps(unit["status"])
        assert (condition(unit, "Ready") or {}).get("status") == "True", unit["status"]
        job = unit["status"]["job"]
        assert (job["identifier"], job["operation"], job["success"]) == ("1", "DEPLOY", True), job
    for i in range(UNDEPLOYS):
        unit = units[f"u-{i}"]
        assert unit["status"]["status"] == "UNDEPLOYED", json.dumps(unit["status"])
        assert unit["status"].get("definitions") in (None, []), unit["status"]
        job = unit["status"]["job"]
        expected = (str(unit["metadata"]["generation"]), "UNDEPLOY", True)
        assert (job["identifier"], job["operation"], job["success"]) == expected, job
    for i in range(REDEPLOY_JOBS):
        request = requests[f"r-{i}"]
        succeeded = condition(request, "Succeeded") or {}
        assert succeeded.get("status") == "True", json.dumps(request.get("status"))


def check_units_made_once(
    units: dict[str, dict[str, Any]], requests: dict[str, dict[str, Any]]
) -> None:
    """Each Redeploy made exactly its one unit, with the chosen content of its source."""
    made_by = defaultdict(list)
    for name, unit in units.items():
        request = (unit["metadata"].get("labels") or {}).get(REDEPLOY_REQUEST_LABEL)
        if request:
            made_by[request].append(name)
    assert set(made_by) == set(requests), "units made for requests that do not exist, or missing"
    for i in range(REDEPLOY_JOBS):
        request = requests[f"r-{i}"]
        assert made_by[f"r-{i}"] == [request["status"]["newUnitName"]], (made_by[f"r-{i}"], i)
        unit = units[request["status"]["newUnitName"]]
        assert unit["status"]["status"] == "DEPLOYED", unit["status"]
        source = units[redeploy_source(i)]
        assert unit["spec"].get("tenantId") == source["spec"].get("tenantId")
        source_sha = {r["name"]: r["sha256"] for r in source["status"]["resources"]}
        copied = {r["name"]: r["sha256"] for r in unit["status"]["resources"]}
        assert set(copied) == expected_redeployed_names(i), (i, sorted(copied))
        assert all(copied[n] == source_sha[n] for n in copied), i
    expected = DEPLOYS + UNDEPLOYS + SOURCES + REDEPLOY_JOBS
    assert len(units) == expected, f"{len(units)} units, expected {expected}: {sorted(units)}"
    ids = Counter(str(u["spec"]["deploymentId"]) for u in units.values())
    assert [i for i, n in ids.items() if n > 1] == [], "deployment ids used twice"


def check_versions(units: dict[str, dict[str, Any]]) -> int:
    """Per (kind, key, tenant), the versions held are exactly 1..n; returns how many."""
    versions: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    ids = Counter()
    for unit in units.values():
        tenant = str(unit["spec"].get("tenantId") or "")
        for definition in unit["status"].get("definitions") or []:
            slot = (definition["kind"], definition["key"], tenant)
            versions[slot].append(int(definition["version"]))
            ids[definition["id"]] += 1
    for slot, found in sorted(versions.items()):
        assert sorted(found) == list(range(1, len(found) + 1)), (slot, sorted(found))
    assert [i for i, n in ids.items() if n > 1] == [], "definition ids used twice"
    # Keys shared by deploys and redeploys in both tenants are among them.
    assert {("process", "shared-0", ""), ("decision", "rule-1", "acme")} <= set(versions)
    return sum(len(found) for found in versions.values())


@pytest.mark.timeout(1800)
def test_operator_killed_twice_during_200_jobs(
    cluster: Cluster, namespace: str, own_operator: OperatorProcess, figures: Figures
) -> None:
    units, requests = asyncio.run(run_drill(cluster.kubeconfig, namespace, own_operator, figures))
    check_jobs(units, requests)
    check_units_made_once(units, requests)
    figures.record(DRILL, "units checked", len(units))
    figures.record(DRILL, "versions checked", check_versions(units))
    tracebacks = own_operator.log.read_text(errors="replace").count("Traceback")
    figures.record(DRILL, "tracebacks in the operator log", tracebacks)
    assert tracebacks == 0, own_operator.tail(200)
