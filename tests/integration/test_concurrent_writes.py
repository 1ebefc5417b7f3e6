"""Writes that race: what the concurrency drill found, kept as regressions of a normal run.

Matrix: identical uploads with duplicate filtering sent at once give one deployment (each
decided on an index that had not seen the others yet and deployed too), and so do a kubectl
apply and a REST create of the same content racing; deleting a deployed unit
removes its finalizer under the resourceVersion of the undeploy just written, without a 409.
"""

import concurrent.futures
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from devcluster.processes import OperatorProcess, ShimProcess, wait_for
from tests.support.cluster import Cluster

UPLOADS = 8
MAPS = (
    "deployedProcessDefinitions",
    "deployedCaseDefinitions",
    "deployedDecisionDefinitions",
    "deployedDecisionRequirementsDefinitions",
)
BPMN = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" id="defs" '
    b'targetNamespace="http://example.org/race">\n'
    b'  <process id="race" isExecutable="true"><startEvent id="s"/></process>\n'
    b"</definitions>\n"
)


@pytest.fixture
def shim(
    cluster: Cluster, operator: OperatorProcess, namespace: str, tmp_path: Path
) -> Iterator[ShimProcess]:
    with ShimProcess(
        cluster.kubeconfig, tmp_path / "shim.log", namespace=namespace
    ).serving() as process:
        yield process


@pytest.mark.timeout(300)
@pytest.mark.parametrize("mode", ["enable-duplicate-filtering", "deploy-changed-only"])
def test_identical_uploads_at_once_deploy_once(shim: ShimProcess, mode: str) -> None:
    barrier = threading.Barrier(UPLOADS)

    def upload(_: int) -> dict[str, Any]:
        with httpx.Client(base_url=shim.engine(), timeout=120) as http:
            barrier.wait()
            response = http.post(
                "/deployment/create",
                data={"deployment-name": "race", mode: "true"},
                files={"data": ("race.bpmn", BPMN)},
            )
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer

    with concurrent.futures.ThreadPoolExecutor(UPLOADS) as pool:
        answers = list(pool.map(upload, range(UPLOADS)))

    assert len({a["id"] for a in answers}) == 1, [a["id"] for a in answers]
    assert sum(1 for a in answers if any(a[m] for m in MAPS)) == 1
    listed = httpx.get(f"{shim.engine()}/deployment", params={"name": "race"}, timeout=30).json()
    assert [d["id"] for d in listed] == [answers[0]["id"]]
    definitions = httpx.get(f"{shim.engine()}/deployment/{answers[0]['id']}", timeout=30)
    assert definitions.status_code == 200


@pytest.mark.timeout(300)
def test_a_kubectl_apply_and_a_rest_create_racing_deploy_once(
    shim: ShimProcess, cluster: Cluster, namespace: str
) -> None:
    unit = (
        "apiVersion: bpm.deployunits.io/v1alpha1\nkind: DeploymentUnit\n"
        "metadata: {name: applied}\n"
        "spec:\n  deploymentId: applied-1\n  name: race\n  enableDuplicateFiltering: true\n"
        "  resources:\n    inline:\n      - name: race.bpmn\n"
        f"        content: {json.dumps(BPMN.decode())}\n"
    )
    barrier = threading.Barrier(2)

    def apply() -> None:
        barrier.wait()
        cluster.apply(unit, namespace)

    def create() -> dict[str, Any]:
        barrier.wait()
        response = httpx.post(
            f"{shim.engine()}/deployment/create",
            data={"deployment-name": "race", "enable-duplicate-filtering": "true"},
            files={"data": ("race.bpmn", BPMN)},
            timeout=120,
        )
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        applied, created = pool.submit(apply), pool.submit(create)
        applied.result()
        answer = created.result()

    def units() -> list[dict[str, Any]]:
        listed = json.loads(cluster.kubectl("get", "du", "-n", namespace, "-o", "json").stdout)
        return list(listed["items"])

    def settled() -> bool:
        # A REST upload that lost is answered with the winner's deployment, as the engine
        # answers, and its own unit goes; an applied unit that lost stays, as a duplicate.
        found = units()
        return all(
            (u.get("status") or {}).get("status") == "DEPLOYED"
            and not u["metadata"].get("deletionTimestamp")
            for u in found
        ) and len(found) == (1 if answer["id"] == "applied-1" else 2)

    wait_for(settled, timeout=60, what="the race settled")
    [winner] = [u for u in units() if u["status"]["definitions"]]
    assert winner["spec"]["deploymentId"] == answer["id"]
    for loser in units():
        if loser is not winner and loser["metadata"]["name"] != winner["metadata"]["name"]:
            assert loser["status"]["duplicateOf"] == answer["id"]


@pytest.mark.timeout(300)
def test_deleting_a_deployed_unit_meets_no_conflict(
    cluster: Cluster, operator: OperatorProcess, namespace: str, shim: ShimProcess
) -> None:
    created = httpx.post(
        f"{shim.engine()}/deployment/create",
        data={"deployment-name": "short-lived"},
        files={"data": ("race.bpmn", BPMN)},
        timeout=120,
    )
    assert created.status_code == 200, created.text
    deployment_id = created.json()["id"]
    unit = cluster.kubectl(
        "get", "du", "-n", namespace, "-o", "jsonpath={.items[0].metadata.name}"
    ).stdout
    deleted = httpx.delete(f"{shim.engine()}/deployment/{deployment_id}", timeout=120)
    assert deleted.status_code == 204, deleted.text

    def gone() -> bool:
        listed = cluster.kubectl("get", "du", "-n", namespace, "-o", "name").stdout
        return not listed.strip()

    wait_for(gone, 60, "the unit to be deleted")
    retried = [
        line
        for line in operator.log.read_text(errors="replace").splitlines()
        if f"Retrying {namespace}/{unit}" in line
    ]
    assert not retried, retried
