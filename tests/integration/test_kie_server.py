"""kjar units reach a real KIE Server 7.74.1 as containers, through the jBPM dialect and kubectl.

Matrix: the ProcessEngine's Ready names the server's version and capabilities; a kjar deployed
through the jBPM dialect (202, then DEPLOYED) is a STARTED container whose process starts an
instance on the server, and `/processes` lists the variables the server reports; undeploy with
an active instance under KeepInstances is refused (UNDEPLOY_FAILED, the count and the id), then
with Cascade the container is gone and the instance aborted; a kjar the server cannot resolve
fails the job with the server's message and the repository it must reach; an inline BPMN unit
bound to the server is refused with the reason; a container deleted behind the operator's back
is created again at the next resync, once.

One KIE Server for the session (the `kie_server` fixture), one namespace for the module whose
default ProcessEngine is that server, and the session's operator; the shim of the module serves
the jBPM dialect in that namespace with the server's Maven repository.
"""

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from deployunits.api.jbpm import ids
from deployunits.content.maven import MavenCoordinates
from deployunits.engines import KieServerClient
from deployunits.reconcile import kie
from devcluster.kjars import build_kjar, jbpm_waiting_bpmn
from devcluster.processes import OperatorProcess, ShimProcess, wait_for
from tests.support import jbpm
from tests.support.cluster import Cluster
from tests.support.kie import RunningKieServer, add_kie_engine, instance_state
from tests.support.maven_repo import MavenRepo
from tests.support.units import deployment_unit

pytestmark = pytest.mark.usefixtures("operator")

JSON_ACCEPT = {"Accept": "application/json"}
VARIABLES = {"reason": "String", "amount": "java.lang.Integer"}


@pytest.fixture(scope="module")
def engine_space(
    cluster: Cluster, space: str, kie_server: RunningKieServer, operator: OperatorProcess
) -> str:
    """The module's namespace, with the session's KIE Server as its default ProcessEngine
    (Cascade, so that the namespace's deletion takes every container with it)."""
    add_kie_engine(cluster, space, kie_server, resync=5, policy="Cascade")
    cluster.wait_condition("kie", space, "Ready", operator, kind="pe")
    return space


@pytest.fixture(scope="module")
def shim(
    engine_space: str, kie_server: RunningKieServer, start_shim: Callable[..., ShimProcess]
) -> ShimProcess:
    return start_shim(
        namespace=engine_space, env={"DEPLOYUNITS_MAVEN_REPOSITORY": kie_server.repo.url}
    )


@pytest.fixture
def api(shim: ShimProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=shim.url + jbpm.PREFIX, timeout=60) as client:
        yield client


def new_id(artifact: str) -> str:
    return f"org.acme.k{uuid.uuid4().hex[:8]}:{artifact}:1.0.0"


def status_of(api: httpx.Client, deployment_id: str) -> str:
    response = api.get(f"/deployment/{deployment_id}", headers=JSON_ACCEPT)
    assert response.status_code == 200, response.text
    return str(response.json()["status"])


def wait_status(
    api: httpx.Client,
    deployment_id: str,
    wanted: str,
    operator: OperatorProcess,
    timeout: float = 90,
) -> None:
    seen: list[str] = []

    def reached() -> bool:
        seen.append(status_of(api, deployment_id))
        return seen[-1] == wanted

    wait_for(
        reached,
        timeout,
        f"{deployment_id} to be {wanted}; seen {seen[-5:]}\noperator log:\n{operator.tail()}",
    )


def deploy(api: httpx.Client, deployment_id: str, **query: str) -> None:
    response = api.post(f"/deployment/{deployment_id}/deploy", params=query, headers=JSON_ACCEPT)
    assert response.status_code == 202, response.text


def deploy_and_wait(
    api: httpx.Client, deployment_id: str, operator: OperatorProcess, **query: str
) -> None:
    """Deploy through the dialect (202), then wait until the unit is DEPLOYED."""
    deploy(api, deployment_id, **query)
    wait_status(api, deployment_id, "DEPLOYED", operator)


def undeploy(api: httpx.Client, deployment_id: str) -> None:
    response = api.post(f"/deployment/{deployment_id}/undeploy", headers=JSON_ACCEPT)
    assert response.status_code == 202, response.text


def unit(cluster: Cluster, namespace: str, deployment_id: str) -> dict[str, Any]:
    found: dict[str, Any] = cluster.get("du", ids.unit_name(deployment_id), namespace)
    return found


def set_policy(cluster: Cluster, namespace: str, policy: str) -> None:
    patch = json.dumps({"spec": {"deletePolicy": policy}})
    cluster.kubectl("patch", "pe", "kie", "-n", namespace, "--type=merge", "-p", patch)


def containers(server: RunningKieServer) -> dict[str, str]:
    """Every container of the server: id → status."""

    async def listed(client: KieServerClient) -> dict[str, str]:
        return {c.container_id: str(c.status) for c in await client.containers()}

    return server.call(listed)


def test_ready_names_the_servers_version_and_capabilities(
    cluster: Cluster, engine_space: str
) -> None:
    engine = cluster.get("pe", "kie", engine_space)
    [ready] = [c for c in engine["status"]["conditions"] if c["type"] == "Ready"]
    assert ready["status"] == "True"
    assert ready["message"].startswith("KIE Server 7.74.1.Final answers at http://127.0.0.1:")
    assert "(capabilities: KieServer, BRM, BPM)" in ready["message"]
    assert engine["status"]["engineVersion"] == "7.74.1.Final"


def test_a_kjar_deployed_through_the_dialect_is_a_started_container_whose_process_runs(
    api: httpx.Client,
    cluster: Cluster,
    engine_space: str,
    kie_server: RunningKieServer,
    operator: OperatorProcess,
) -> None:
    deployment_id = new_id("evaluation")
    [process] = kie_server.publish(deployment_id, VARIABLES)
    deploy_and_wait(api, deployment_id, operator, strategy="per_process_instance")

    container = kie.container_id(deployment_id)
    found = kie_server.call(lambda client: client.container(container))
    assert found is not None
    assert str(found.status) == "STARTED"
    assert str(found.release_id) == deployment_id
    assert ("RuntimeStrategy", "PER_PROCESS_INSTANCE") in [
        (i.itemName, i.itemValue) for i in found.config_items
    ]
    instance = kie_server.call(lambda client: client.start_process(container, process))
    assert instance_state(kie_server, instance) == 1

    status = unit(cluster, engine_space, deployment_id)["status"]
    assert status["engine"]["name"] == "kie"
    assert status["engine"]["deploymentId"] == container
    [reported] = status["engine"]["definitions"]
    assert (reported["key"], reported["modelVersion"], reported["packageName"]) == (
        process,
        "1.0",
        "org.acme",
    )
    listed = api.get(f"/deployment/{deployment_id}/processes", headers=JSON_ACCEPT).json()
    [definition] = listed["processDefinitionList"]
    assert definition["id"] == process
    assert definition["deploymentId"] == deployment_id
    assert definition["variables"] == VARIABLES


def test_keep_instances_refuses_undeploy_while_an_instance_runs_and_cascade_aborts_it(
    api: httpx.Client,
    cluster: Cluster,
    engine_space: str,
    kie_server: RunningKieServer,
    operator: OperatorProcess,
) -> None:
    set_policy(cluster, engine_space, "KeepInstances")
    deployment_id = new_id("approval")
    [process] = kie_server.publish(deployment_id)
    deploy_and_wait(api, deployment_id, operator)
    container = kie.container_id(deployment_id)
    instance = kie_server.call(lambda client: client.start_process(container, process))

    undeploy(api, deployment_id)
    wait_status(api, deployment_id, "UNDEPLOY_FAILED", operator)
    explanation = unit(cluster, engine_space, deployment_id)["status"]["job"]["explanation"]
    assert f"1 active process instance(s) ({instance})" in explanation
    assert "deletePolicy" in explanation
    assert kie_server.credentials.password not in json.dumps(
        unit(cluster, engine_space, deployment_id)
    )
    assert containers(kie_server).get(container) == "STARTED"
    assert instance_state(kie_server, instance) == 1

    set_policy(cluster, engine_space, "Cascade")
    wait_status(api, deployment_id, "UNDEPLOYED", operator)
    assert container not in containers(kie_server)
    assert instance_state(kie_server, instance) == 3  # aborted


def test_a_kjar_the_server_cannot_resolve_fails_the_job_with_its_message(
    api: httpx.Client,
    cluster: Cluster,
    engine_space: str,
    kie_server: RunningKieServer,
    operator: OperatorProcess,
    tmp_path: Path,
) -> None:
    # The operator finds the kjar in a repository the server's Maven settings do not name.
    elsewhere = MavenRepo(tmp_path / "elsewhere")
    try:
        deployment_id = new_id("hidden")
        group, artifact, version = deployment_id.split(":")
        jar = build_kjar(
            {"org/acme/hidden.bpmn2": jbpm_waiting_bpmn("hidden")},
            group_id=group,
            artifact_id=artifact,
            version=version,
        )
        elsewhere.publish(MavenCoordinates(group, artifact, version), jar)
        name = ids.unit_name(deployment_id)
        maven = {
            "groupId": group,
            "artifactId": artifact,
            "version": version,
            "repository": elsewhere.url,
        }
        cluster.apply_objects(
            engine_space, deployment_unit(name, deployment_id=deployment_id, maven=maven)
        )
        wait_status(api, deployment_id, "DEPLOY_FAILED", operator)
        job = unit(cluster, engine_space, deployment_id)["status"]["job"]
        assert job["success"] is False
        assert f"Cannot find KieModule: {deployment_id}" in job["explanation"]
        assert elsewhere.url in job["explanation"]
        assert kie.container_id(deployment_id) not in containers(kie_server)
    finally:
        elsewhere.stop()


def test_an_inline_bpmn_unit_bound_to_the_server_is_refused_with_the_reason(
    cluster: Cluster, engine_space: str, operator: OperatorProcess
) -> None:
    name = f"inline-{uuid.uuid4().hex[:6]}"
    content = jbpm_waiting_bpmn("inline_process").decode()
    inline = {"p.bpmn2": content}
    cluster.apply_objects(
        engine_space, deployment_unit(name, deployment_id=f"org.acme:{name}:1.0", inline=inline)
    )
    found = cluster.wait_condition(name, engine_space, "Stalled", operator)
    assert found["status"]["status"] == "DEPLOY_FAILED"
    explanation = found["status"]["job"]["explanation"]
    assert "a KIE Server deploys kjars only" in explanation
    assert "inline resources" in explanation


def test_a_container_deleted_behind_the_operators_back_is_created_again_once(
    api: httpx.Client,
    cluster: Cluster,
    engine_space: str,
    kie_server: RunningKieServer,
    operator: OperatorProcess,
) -> None:
    deployment_id = new_id("drift")
    kie_server.publish(deployment_id)
    deploy_and_wait(api, deployment_id, operator)
    container = kie.container_id(deployment_id)
    assert kie_server.call(lambda client: client.dispose_container(container))
    assert container not in containers(kie_server)

    # The ProcessEngine resyncs every 5 s: the container is back within a few.
    wait_for(
        lambda: containers(kie_server).get(container) == "STARTED",
        60,
        f"{container} to be created again\n{operator.tail()}",
    )

    def restored() -> bool:
        events = json.dumps(cluster.events(engine_space, "reason=EngineDeploymentRestored"))
        return f"Container {container} vanished" in events

    # Events are posted after the status is written.
    wait_for(restored, 30, f"an EngineDeploymentRestored Event for {container}")
    assert list(containers(kie_server)).count(container) == 1
    assert status_of(api, deployment_id) == "DEPLOYED"


def test_the_server_stopped_during_deploys_ends_with_every_container_once(
    api: httpx.Client,
    cluster: Cluster,
    engine_space: str,
    kie_server: RunningKieServer,
    operator: OperatorProcess,
) -> None:
    deployment_ids = [new_id(f"restart{i}") for i in range(4)]
    processes = {d: kie_server.publish(d)[0] for d in deployment_ids}
    kie_server.process.stop()
    try:
        for deployment_id in deployment_ids:
            deploy(api, deployment_id)
        for deployment_id in deployment_ids:

            def waiting(d: str = deployment_id) -> bool:
                # The dialect's queue creates the unit a moment after its 202.
                found = cluster.kubectl(
                    "get", "du", ids.unit_name(d), "-n", engine_space, "-o", "json", check=False
                )
                status = (
                    json.loads(found.stdout).get("status") or {} if found.returncode == 0 else {}
                )
                return "cannot reach the KIE Server" in json.dumps(status.get("conditions"))

            wait_for(waiting, 60, f"{deployment_id} to wait for the server\n{operator.tail()}")
            assert status_of(api, deployment_id) != "DEPLOYED"
    finally:
        # The same port: the ProcessEngine's URL stays right.
        kie_server.process.start()
    for deployment_id in deployment_ids:
        wait_status(api, deployment_id, "DEPLOYED", operator, timeout=150)
    found = containers(kie_server)
    for deployment_id in deployment_ids:
        container = kie.container_id(deployment_id)
        assert found.get(container) == "STARTED"
        assert unit(cluster, engine_space, deployment_id)["status"]["engine"]["deploymentId"] == (
            container
        )
        instance = kie_server.call(
            lambda client, c=container, d=deployment_id: client.start_process(c, processes[d])
        )
        assert instance_state(kie_server, instance) == 1


@pytest.mark.parametrize(
    "spec",
    [
        {},
        {
            "camunda7": {"url": "http://camunda:8080/engine-rest"},
            "kieServer": {"url": "http://kie:8080/rest/server"},
        },
    ],
)
def test_the_api_server_takes_exactly_one_kind_of_engine(
    cluster: Cluster, engine_space: str, spec: dict[str, Any]
) -> None:
    manifest = {
        "apiVersion": "bpm.deployunits.io/v1alpha1",
        "kind": "ProcessEngine",
        "metadata": {"name": f"wrong-{uuid.uuid4().hex[:6]}"},
        "spec": spec,
    }
    refused = cluster.kubectl(
        "apply", "-n", engine_space, "-f", "-", input=json.dumps(manifest), check=False
    )
    assert refused.returncode != 0
    assert "set exactly one of camunda7 and kieServer" in refused.stderr
