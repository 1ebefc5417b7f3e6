"""The jBPM job queue over real HTTP with two shim processes serving one namespace at once.

Jobs stay pending because the Maven repository is unavailable (the operator keeps retrying) or
because the operator is stopped. Matrix: an identical job refused, also when many requests race
on both replicas; a full queue refused, also when many requests race on both replicas (exactly
`limit` are admitted); pending undeploys; the queue known to a replica started later; jobs
finishing free the queue; the ledger empties once every job has been written.
"""

import concurrent.futures
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from deployunits.api.jbpm.queue import LEDGER_NAME, Ledger
from deployunits.content.maven import MavenCoordinates
from devcluster.kjars import build_kjar, jbpm_bpmn
from devcluster.processes import OperatorProcess, ShimProcess, wait_for
from tests.support import jbpm
from tests.support.cluster import Cluster
from tests.support.maven_repo import MavenRepo, maven_repo_fixture  # noqa: F401

LIMIT = 3
JSON_ACCEPT = {"Accept": "application/json"}
QUEUE_FULL = "Queue is full with existing incomplete un/deploy jobs"


def start_shim(cluster: Cluster, namespace: str, repo: MavenRepo, log: Path) -> ShimProcess:
    process = ShimProcess(
        cluster.kubeconfig,
        log,
        namespace=namespace,
        env={
            "DEPLOYUNITS_MAVEN_REPOSITORY": repo.url,
            "DEPLOYUNITS_JOB_QUEUE_LIMIT": str(LIMIT),
        },
    )
    process.start()
    return process


@pytest.fixture
def shims(
    cluster: Cluster,
    operator: OperatorProcess,
    namespace: str,
    maven_repo: MavenRepo,
    tmp_path: Path,
) -> Iterator[list[ShimProcess]]:
    started = [
        start_shim(cluster, namespace, maven_repo, tmp_path / f"shim-{i}.log") for i in range(2)
    ]
    yield started
    for process in started:
        process.stop()


def url(shim: ShimProcess, path: str) -> str:
    return f"{shim.url}{jbpm.PREFIX}{path}"


def call(shim: ShimProcess, method: str, path: str) -> dict[str, Any]:
    response = httpx.request(method, url(shim, path), headers=JSON_ACCEPT, timeout=60)
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return body


def deploy(shim: ShimProcess, deployment_id: str) -> dict[str, Any]:
    return call(shim, "POST", f"/deployment/{deployment_id}/deploy")


def undeploy(shim: ShimProcess, deployment_id: str) -> dict[str, Any]:
    return call(shim, "POST", f"/deployment/{deployment_id}/undeploy")


def status(shim: ShimProcess, deployment_id: str) -> str:
    response = httpx.get(url(shim, f"/deployment/{deployment_id}"), headers=JSON_ACCEPT)
    assert response.status_code == 200, response.text
    return str(response.json()["status"])


def wait_status(shim: ShimProcess, deployment_id: str, wanted: str, timeout: float = 90) -> None:
    wait_for(lambda: status(shim, deployment_id) == wanted, timeout, f"{deployment_id} {wanted}")


def race(calls: list[tuple[ShimProcess, str]]) -> list[dict[str, Any]]:
    """Deploys posted at once, spread over the replicas.

    Each replica first reads the queue (a refused undeploy), so both decide on the same
    version of it: only the resourceVersion precondition of the queue's write keeps them apart.
    """
    for shim in {id(s): s for s, _ in calls}.values():
        assert undeploy(shim, new_id())["success"] is False
    with concurrent.futures.ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(lambda c: deploy(*c), calls))


def publish(repo: MavenRepo, deployment_id: str) -> None:
    group, artifact, version = deployment_id.split(":")
    key = f"p{uuid.uuid4().hex[:8]}"
    jar = build_kjar(
        {f"{key}.bpmn2": jbpm_bpmn(key)},
        group_id=group,
        artifact_id=artifact,
        version=version,
    )
    repo.publish(MavenCoordinates(group, artifact, version), jar)


def new_id() -> str:
    return f"org.queue:{uuid.uuid4().hex[:10]}:1.0"


def ledger_records(cluster: Cluster, namespace: str) -> list[str]:
    found = cluster.kubectl("get", "configmap", LEDGER_NAME, "-n", namespace, "-o", "json")
    return sorted(Ledger.parse(json.loads(found.stdout)).records)


def test_an_identical_job_is_refused_by_both_replicas(
    shims: list[ShimProcess], maven_repo: MavenRepo
) -> None:
    first, second = shims
    deployment_id = new_id()
    publish(maven_repo, deployment_id)
    maven_repo.unavailable = True
    answers = race([(shims[i % 2], deployment_id) for i in range(10)])
    accepted = [a for a in answers if a["success"]]
    assert len(accepted) == 1, answers
    identical = f"A job already exists to deploy deployment [{deployment_id}]"
    assert all(a["explanation"] == identical for a in answers if not a["success"]), answers
    assert all(a["identifier"] is None for a in answers if not a["success"])
    assert accepted[0]["explanation"] == "deploy job accepted."

    wait_for(lambda: status(first, deployment_id) == "DEPLOYING", 30, "the job to be DEPLOYING")
    for shim in shims:
        assert status(shim, deployment_id) == "DEPLOYING"
        assert deploy(shim, deployment_id)["explanation"] == identical
        refused = undeploy(shim, deployment_id)
        assert refused["explanation"] == (
            "The deployment can not be undeployed because the initial deployment has not yet "
            "fully completed."
        )
        assert refused["deploymentUnit"]["status"] == "DEPLOYING"

    maven_repo.unavailable = False
    wait_status(second, deployment_id, "DEPLOYED")
    assert deploy(second, deployment_id)["explanation"] == (
        "The deployment already exists and must be first undeployed!"
    )


def test_a_full_queue_is_refused_by_both_replicas(
    cluster: Cluster, namespace: str, shims: list[ShimProcess], maven_repo: MavenRepo
) -> None:
    first, second = shims
    maven_repo.unavailable = True
    wanted = [new_id() for _ in range(12)]
    for deployment_id in wanted:
        publish(maven_repo, deployment_id)
    answers = race([(shims[i % 2], deployment_id) for i, deployment_id in enumerate(wanted)])
    accepted = [a for a in answers if a["success"]]
    assert len(accepted) == LIMIT, answers
    assert all(a["explanation"] == QUEUE_FULL for a in answers if not a["success"]), answers
    identifiers = [a["identifier"] for a in accepted]
    assert len(set(identifiers)) == LIMIT
    admitted = [
        f"{a['deploymentUnit']['groupId']}:{a['deploymentUnit']['artifactId']}:1.0"
        for a in accepted
    ]
    for shim in shims:
        assert deploy(shim, new_id())["explanation"] == QUEUE_FULL
        # Refused jobs left nothing behind: their ids are unknown to both replicas.
        for deployment_id in set(wanted) - set(admitted):
            assert status(shim, deployment_id) == "UNDEPLOYED"

    maven_repo.unavailable = False
    for deployment_id in admitted:
        wait_status(first, deployment_id, "DEPLOYED")
    later = new_id()
    publish(maven_repo, later)
    assert deploy(second, later)["success"] is True
    wait_status(first, later, "DEPLOYED")
    wait_for(lambda: not ledger_records(cluster, namespace), 30, "an empty ledger")


def test_pending_undeploys_and_a_replica_started_later(
    cluster: Cluster,
    namespace: str,
    operator: OperatorProcess,
    shims: list[ShimProcess],
    maven_repo: MavenRepo,
    tmp_path: Path,
) -> None:
    first, second = shims
    deployed, fresh = new_id(), new_id()
    publish(maven_repo, deployed)
    publish(maven_repo, fresh)
    assert deploy(first, deployed)["success"] is True
    wait_status(second, deployed, "DEPLOYED")
    operator.stop()
    try:
        assert undeploy(first, deployed)["success"] is True
        again = undeploy(second, deployed)
        assert again["explanation"] == f"A job already exists to undeploy deployment [{deployed}]"
        assert deploy(second, deployed)["explanation"] == (
            "The deployment already exists and must be first undeployed!"
        )
        assert deploy(second, fresh)["success"] is True
        wait_for(lambda: status(first, fresh) == "ACCEPTED", 30, "ACCEPTED on the other replica")
        assert status(first, deployed) == "UNDEPLOYING"

        # What is pending lives in the API server: a replica started now knows it.
        first.stop()
        third = start_shim(cluster, namespace, maven_repo, tmp_path / "shim-3.log")
        shims.append(third)
        assert undeploy(third, deployed)["explanation"] == (
            f"A job already exists to undeploy deployment [{deployed}]"
        )
        assert deploy(third, fresh)["explanation"] == (
            f"A job already exists to deploy deployment [{fresh}]"
        )
        assert status(third, fresh) == "ACCEPTED"
    finally:
        operator.start()
    wait_status(second, deployed, "UNDEPLOYED")
    wait_status(second, fresh, "DEPLOYED")
