"""Redeploy requests: the engine's semantics, reconciled exactly once, through kubectl.

Matrix: all resources, by ids, by names, by both; unknown deployment and unknown resources with
the engine's messages; 100 requests at once with consecutive versions; a crash between creating
the unit and writing the status; the original deleted while the copy keeps its content; TTL.
"""

import json
import time
from typing import Any

import pytest
import yaml

from deployunits.k8s import snapshots
from deployunits.reconcile import redeploy as decide
from devcluster.processes import OperatorProcess, wait_for
from tests.support.cluster import Cluster, condition
from tests.support.models import bpmn, dmn
from tests.support.units import deployment_unit, redeploy

pytestmark = pytest.mark.usefixtures("operator")

ORIGINAL = deployment_unit(
    "original",
    deployment_id="orig-1",
    name="invoice",
    tenantId="acme",
    source="modeler",
    inline={"a.bpmn": bpmn("a"), "b.bpmn": bpmn("b"), "c.dmn": dmn("c")},
)


def redeploy_yaml(name: str, deployment_id: str = "orig-1", **spec: Any) -> str:
    return yaml.safe_dump(redeploy(name, deployment_id, **spec))


@pytest.fixture
def original(cluster: Cluster, namespace: str) -> dict[str, Any]:
    cluster.apply_objects(namespace, ORIGINAL)
    cluster.kubectl(
        "wait", "--for=condition=Ready", "--timeout=60s", "du/original", "-n", namespace
    )
    return cluster.get("du", "original", namespace)


def finished(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    found: dict[str, Any] = {}

    def done() -> bool:
        found.update(cluster.get("redeploy", name, namespace))
        return any(
            (condition(found, t) or {}).get("status") == "True" for t in ("Succeeded", "Stalled")
        )

    wait_for(done, 90, f"redeploy {name} to finish: {json.dumps(found.get('status'))}")
    return found


def new_unit(cluster: Cluster, namespace: str, request: dict[str, Any]) -> dict[str, Any]:
    assert (condition(request, "Succeeded") or {}).get("status") == "True", request["status"]
    return cluster.get("du", request["status"]["newUnitName"], namespace)


def keys_and_versions(unit: dict[str, Any]) -> dict[str, int]:
    return {d["key"]: d["version"] for d in unit["status"]["definitions"]}


def test_redeploy_all_resources(cluster: Cluster, namespace: str, original: dict[str, Any]) -> None:
    cluster.apply(redeploy_yaml("all", source="cockpit"), namespace)
    cluster.kubectl(
        "wait", "--for=condition=Succeeded", "--timeout=60s", "rdp/all", "-n", namespace
    )
    request = finished(cluster, namespace, "all")
    unit = new_unit(cluster, namespace, request)
    assert request["status"]["newDeploymentId"] == unit["spec"]["deploymentId"] != "orig-1"
    assert request["status"]["newDeploymentName"] == "invoice"
    assert request["status"]["completionTime"]
    assert unit["spec"]["name"] == "invoice"
    assert unit["spec"]["tenantId"] == "acme"
    assert unit["spec"]["source"] == "cockpit"
    assert keys_and_versions(unit) == {"a": 2, "b": 2, "c": 2}
    originals = {r["name"]: r for r in original["status"]["resources"]}
    for resource in unit["status"]["resources"]:
        assert resource["sha256"] == originals[resource["name"]]["sha256"]
        assert resource["id"] != originals[resource["name"]]["id"]
    columns = cluster.kubectl("get", "rdp", "all", "-n", namespace).stdout
    assert "orig-1" in columns
    assert unit["spec"]["deploymentId"] in columns
    assert "True" in columns


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"resourceIds": ["<a.bpmn>"]}, {"a"}),
        ({"resourceNames": ["b.bpmn", "c.dmn"]}, {"b", "c"}),
        ({"resourceIds": ["<a.bpmn>"], "resourceNames": ["c.dmn", "a.bpmn"]}, {"a", "c"}),
    ],
)
def test_redeploy_chosen_resources(
    cluster: Cluster,
    namespace: str,
    original: dict[str, Any],
    spec: dict[str, list[str]],
    expected: set[str],
) -> None:
    ids = {r["name"]: r["id"] for r in original["status"]["resources"]}
    resolved = {
        key: [ids[v[1:-1]] if v.startswith("<") else v for v in values]
        for key, values in spec.items()
    }
    cluster.apply(redeploy_yaml("some", **resolved), namespace)
    unit = new_unit(cluster, namespace, finished(cluster, namespace, "some"))
    assert set(keys_and_versions(unit)) == expected
    assert set(keys_and_versions(unit).values()) == {2}
    assert "source" not in unit["spec"]
    # Definitions that were not redeployed keep their single version.
    assert keys_and_versions(cluster.get("du", "original", namespace)) == {"a": 1, "b": 1, "c": 1}


def test_unknown_deployment_is_not_found(cluster: Cluster, namespace: str) -> None:
    cluster.apply(redeploy_yaml("ghost", deployment_id="nope"), namespace)
    request = finished(cluster, namespace, "ghost")
    stalled = condition(request, "Stalled")
    assert stalled is not None
    assert stalled["reason"] == "NotFound"
    assert stalled["message"] == "Deployment with id 'nope' does not exist"
    assert condition(request, "Succeeded")["status"] == "False"  # type: ignore[index]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"resourceIds": ["x1", "x2"]},
            "Cannot redeploy deployment 'orig-1': The deployment with id 'orig-1' does not "
            "contain the following resources with id: x1, x2",
        ),
        (
            {"resourceNames": ["a.bpmn", "nope.bpmn"]},
            "Cannot redeploy deployment 'orig-1': The deployment with id 'orig-1' does not "
            "contain the following resources with name: nope.bpmn",
        ),
    ],
)
def test_unknown_resources_are_not_found(
    cluster: Cluster,
    namespace: str,
    original: dict[str, Any],
    spec: dict[str, list[str]],
    message: str,
) -> None:
    cluster.apply(redeploy_yaml("missing", **spec), namespace)
    stalled = condition(finished(cluster, namespace, "missing"), "Stalled")
    assert stalled is not None
    assert (stalled["reason"], stalled["message"]) == ("NotFound", message)
    units = json.loads(cluster.kubectl("get", "du", "-n", namespace, "-o", "json").stdout)
    assert [u["metadata"]["name"] for u in units["items"]] == ["original"]


def test_hundred_redeploys_at_once_get_consecutive_versions(
    cluster: Cluster, namespace: str, original: dict[str, Any]
) -> None:
    documents = "\n---\n".join(redeploy_yaml(f"r{i}", resourceNames=["a.bpmn"]) for i in range(100))
    cluster.apply(documents, namespace)
    versions = []
    for i in range(100):
        unit = new_unit(cluster, namespace, finished(cluster, namespace, f"r{i}"))
        versions.append(keys_and_versions(unit)["a"])
    assert sorted(versions) == list(range(2, 102))


def test_crash_after_creating_the_unit_leaves_exactly_one(
    cluster: Cluster, namespace: str, operator: OperatorProcess, original: dict[str, Any]
) -> None:
    operator.stop()
    try:
        cluster.apply(redeploy_yaml("crashy"), namespace)
        request = cluster.get("redeploy", "crashy", namespace)
        # What the operator had created before it died: the unit, but no request status.
        chosen = decide.choose_resources(
            decide.RedeploySpec.model_validate(request["spec"]),
            decide.DeploymentUnitStatus.model_validate(original["status"]).resources,
        )
        assert isinstance(chosen, list)
        body = decide.new_unit(request, original["spec"], chosen).manifest()
        cluster.kubectl("create", "-n", namespace, "-f", "-", input=json.dumps(body))
    finally:
        operator.start()
    result = finished(cluster, namespace, "crashy")
    assert result["status"]["newUnitName"] == decide.new_unit_name(request["metadata"]["uid"])
    units = json.loads(cluster.kubectl("get", "du", "-n", namespace, "-o", "json").stdout)
    assert len(units["items"]) == 2
    assert keys_and_versions(new_unit(cluster, namespace, result)) == {"a": 2, "b": 2, "c": 2}


def test_operator_killed_during_a_burst_creates_each_unit_once(
    cluster: Cluster, namespace: str, operator: OperatorProcess, original: dict[str, Any]
) -> None:
    cluster.apply("\n---\n".join(redeploy_yaml(f"k{i}") for i in range(20)), namespace)
    time.sleep(0.5)
    operator.kill()
    operator.start()
    for i in range(20):
        finished(cluster, namespace, f"k{i}")
    units = json.loads(cluster.kubectl("get", "du", "-n", namespace, "-o", "json").stdout)
    assert len(units["items"]) == 21
    versions = sorted(
        keys_and_versions(u)["a"] for u in units["items"] if u["metadata"]["name"] != "original"
    )
    assert versions == list(range(2, 22))


def test_redeployed_content_survives_deleting_the_original(
    cluster: Cluster, namespace: str, original: dict[str, Any]
) -> None:
    cluster.apply(redeploy_yaml("keep"), namespace)
    unit = new_unit(cluster, namespace, finished(cluster, namespace, "keep"))
    cluster.kubectl("delete", "du", "original", "-n", namespace, "--timeout=60s")
    time.sleep(2)  # give the garbage collector a chance to do something wrong
    for resource in unit["status"]["resources"]:
        snapshot = cluster.get("configmap", resource["configMap"], namespace)
        owners = [o["name"] for o in snapshot["metadata"]["ownerReferences"]]
        assert unit["metadata"]["name"] in owners
        content = snapshots.content_of(snapshot, resource["sha256"])
        assert len(content) == resource["size"]


def test_ttl_deletes_finished_requests_and_reapplying_does_nothing(
    cluster: Cluster, namespace: str, original: dict[str, Any]
) -> None:
    cluster.apply(redeploy_yaml("short", ttlSecondsAfterFinished=2), namespace)
    cluster.apply(redeploy_yaml("kept"), namespace)
    finished(cluster, namespace, "kept")

    def gone() -> bool:
        return cluster.kubectl("get", "rdp", "short", "-n", namespace, check=False).returncode != 0

    wait_for(gone, 30, "the short-lived request to be deleted")
    before = cluster.kubectl("get", "du", "-n", namespace, "-o", "name").stdout
    cluster.apply(redeploy_yaml("kept"), namespace)
    time.sleep(2)
    assert cluster.kubectl("get", "du", "-n", namespace, "-o", "name").stdout == before
    assert cluster.kubectl("get", "rdp", "kept", "-n", namespace, check=False).returncode == 0
