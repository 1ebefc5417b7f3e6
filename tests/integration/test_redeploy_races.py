"""Redeploy passes in the races the operator-crash drill found, against the real API server.

The index of units by deployment id follows its own watch, so a request can arrive before the
unit it copies is in it: the pass must find the source in the API server instead of failing for
good with NotFound (while an id that exists nowhere is still NotFound). And a pass on an event
older than the status the process wrote must not report the outcome a second time.
"""

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from deployunits.k8s.connection import Connection
from deployunits.k8s.gateway import ApiServer
from deployunits.k8s.raw import KubeClient, custom_path
from deployunits.operations import redeploys
from deployunits.reconcile import redeploy as decide
from devcluster.processes import OperatorProcess, wait_for
from tests.support.cluster import Cluster, condition
from tests.support.models import bpmn
from tests.support.units import deployment_unit, redeploy

SOURCE = deployment_unit(
    "source", deployment_id="source-1", name="lookup", inline={"a.bpmn": bpmn("lookup")}
)


def request_yaml(name: str, deployment_id: str) -> str:
    return yaml.safe_dump(redeploy(name, deployment_id))


async def one_pass_with_an_empty_index(cluster: Cluster, request: dict[str, Any]) -> None:
    kube = KubeClient(Connection.load(str(cluster.kubeconfig)))
    try:
        ctx = redeploys.RedeploysContext(ApiServer(kube))
        ctx.bind_index({})  # the watch has not delivered the source unit yet
        await redeploys.reconcile(ctx, request)
    finally:
        await kube.aclose()


@pytest.fixture
def paused_operator(
    cluster: Cluster, namespace: str, operator: OperatorProcess
) -> Iterator[OperatorProcess]:
    """The source deployed by the session operator, which then stops until the test ends."""
    cluster.apply_objects(namespace, SOURCE)
    cluster.kubectl("wait", "--for=condition=Ready", "--timeout=60s", "du/source", "-n", namespace)
    operator.stop()
    try:
        yield operator
    finally:
        if operator.popen is None:  # a test may have started it again already
            operator.start()


def test_a_source_missing_from_the_index_is_found_in_the_api_server(
    cluster: Cluster, namespace: str, paused_operator: OperatorProcess
) -> None:
    cluster.apply(request_yaml("lagging", "source-1"), namespace)
    request = cluster.get("redeploy", "lagging", namespace)
    asyncio.run(one_pass_with_an_empty_index(cluster, request))

    after = cluster.get("redeploy", "lagging", namespace)
    assert (condition(after, "Stalled") or {}).get("status") != "True", after.get("status")
    new_name = decide.new_unit_name(request["metadata"]["uid"])
    unit = cluster.get("du", new_name, namespace)
    assert unit["spec"]["name"] == "lookup"

    paused_operator.start()

    def succeeded() -> bool:
        found = cluster.get("redeploy", "lagging", namespace)
        return (condition(found, "Succeeded") or {}).get("status") == "True"

    wait_for(succeeded, 90, "the request to succeed")


def test_an_id_that_exists_nowhere_is_still_not_found(
    cluster: Cluster, namespace: str, paused_operator: OperatorProcess
) -> None:
    cluster.apply(request_yaml("ghost", "nope"), namespace)
    asyncio.run(one_pass_with_an_empty_index(cluster, cluster.get("redeploy", "ghost", namespace)))
    stalled = condition(cluster.get("redeploy", "ghost", namespace), "Stalled")
    assert stalled is not None
    assert (stalled["status"], stalled["reason"]) == ("True", "NotFound")
    assert stalled["message"] == "Deployment with id 'nope' does not exist"


async def succeed_then_see_a_stale_event(cluster: Cluster, namespace: str) -> None:
    kube = KubeClient(Connection.load(str(cluster.kubeconfig)))
    path = custom_path("redeploys", namespace, "twice")
    try:
        ctx = redeploys.RedeploysContext(ApiServer(kube))
        await redeploys.reconcile(ctx, await kube.get(path))  # creates the unit
        in_progress = await kube.get(path)
        # The new unit deployed, as the operator would write it.
        unit_path = custom_path("deploymentunits", namespace)
        source = await kube.get(f"{unit_path}/source")
        unit = await kube.get(f"{unit_path}/{in_progress['status']['newUnitName']}")
        deployed = {**source["status"], "observedGeneration": unit["metadata"]["generation"]}
        await kube.patch(f"{unit_path}/{unit['metadata']['name']}/status", {"status": deployed})
        await redeploys.reconcile(ctx, await kube.get(path))  # the outcome
        # The watch's event of the in-progress write, delivered after the outcome was written.
        await redeploys.reconcile(ctx, in_progress)
    finally:
        await kube.aclose()


def test_a_stale_event_does_not_report_the_outcome_twice(
    cluster: Cluster, namespace: str, paused_operator: OperatorProcess
) -> None:
    cluster.apply(request_yaml("twice", "source-1"), namespace)
    asyncio.run(succeed_then_see_a_stale_event(cluster, namespace))
    request = cluster.get("redeploy", "twice", namespace)
    assert (condition(request, "Succeeded") or {}).get("status") == "True", request["status"]
    events = cluster.events(namespace, "involvedObject.name=twice")
    assert [e["reason"] for e in events] == ["Succeeded"]
