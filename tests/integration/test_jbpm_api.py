"""The jBPM dialect over real HTTP: a shim subprocess, the operator, the API server and a real
Maven repository.

Matrix: deploy of an unknown id from a kjar the test builds (202 answer field by field in XML and
JSON, ACCEPTED then DEPLOYED, the unit's spec, metadata and finalizer); every refusal text of
deploy and undeploy; redeploy after a failed deploy; bad and repeated parameters (400 bodies);
the id pattern (every valid and invalid example of the reference); list paging; process lists;
descriptors on POST and PUT; content negotiation; REST deploy then kubectl undeploy and the
other way round; the CRD refusing a strategy change by kubectl.
"""

import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from deployunits import constants
from deployunits.api.jbpm import ids
from deployunits.content.maven import MavenCoordinates
from devcluster.kjars import build_kjar, jbpm_bpmn
from devcluster.processes import ShimProcess, wait_for
from tests.support import jbpm, kie_remote
from tests.support.cluster import Cluster, unique_name
from tests.support.maven_repo import MavenRepo

JSON_ACCEPT = {"Accept": "application/json"}


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MavenRepo]:
    served = MavenRepo(tmp_path_factory.mktemp("maven"))
    yield served
    served.stop()


@pytest.fixture(scope="module")
def shim(space: str, repo: MavenRepo, start_shim: Callable[..., ShimProcess]) -> ShimProcess:
    """A shim serving `space`: the jBPM dialect serves the shim's own namespace."""
    return start_shim(namespace=space, env={"DEPLOYUNITS_MAVEN_REPOSITORY": repo.url})


@pytest.fixture
def api(shim: ShimProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=shim.url + jbpm.PREFIX, timeout=60) as client:
        yield client


def new_id(artifact: str = "kjar", version: str = "1.0.0") -> str:
    return f"org.acme.{uuid.uuid4().hex[:8]}:{artifact}:{version}"


def publish(repo: MavenRepo, deployment_id: str, *keys: str) -> None:
    group, artifact, version = deployment_id.split(":")[:3]
    jar = build_kjar(
        {f"com/acme/{key}.bpmn2": jbpm_bpmn(key) for key in keys},
        group_id=group,
        artifact_id=artifact,
        version=version,
    )
    repo.publish(MavenCoordinates(group, artifact, version), jar)


def xml(response: httpx.Response) -> dict[str, Any]:
    assert response.headers["content-type"].startswith("application/xml"), response.text
    return jbpm.xml_fields(jbpm.parse_xml(response.content))


def job(response: httpx.Response) -> dict[str, Any]:
    """A JSON job result (202)."""
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    assert list(body) == jbpm.JOB_FIELDS
    assert list(body["deploymentUnit"]) == jbpm.UNIT_FIELDS
    return body


def status_of(api: httpx.Client, deployment_id: str) -> str:
    response = api.get(f"/deployment/{deployment_id}", headers=JSON_ACCEPT)
    assert response.status_code == 200, response.text
    return str(response.json()["status"])


def wait_status(api: httpx.Client, deployment_id: str, wanted: str, timeout: float = 60) -> None:
    seen: list[str] = []

    def reached() -> bool:
        seen.append(status_of(api, deployment_id))
        return seen[-1] == wanted

    wait_for(reached, timeout, f"{deployment_id} to be {wanted}; seen {seen[-5:]}")


def deploy_json(api: httpx.Client, deployment_id: str, **query: str) -> dict[str, Any]:
    return job(api.post(f"/deployment/{deployment_id}/deploy", params=query, headers=JSON_ACCEPT))


def undeploy_json(api: httpx.Client, deployment_id: str) -> dict[str, Any]:
    return job(api.post(f"/deployment/{deployment_id}/undeploy", headers=JSON_ACCEPT))


def inline_unit(name: str, deployment_id: str, *keys: str, state: str = "Deployed") -> str:
    content = jbpm_bpmn(*keys).decode()
    return json.dumps(
        {
            "apiVersion": constants.API_VERSION,
            "kind": constants.DEPLOYMENT_UNIT_KIND,
            "metadata": {"name": name},
            "spec": {
                "deploymentId": deployment_id,
                "state": state,
                "resources": {"inline": [{"name": "processes.bpmn2", "content": content}]},
            },
        }
    )


def test_deploy_of_an_unknown_id_creates_the_unit_from_maven(
    api: httpx.Client, cluster: Cluster, space: str, repo: MavenRepo
) -> None:
    deployment_id = new_id("project1", "1.0.0-SNAPSHOT")
    publish(repo, deployment_id, "evaluation", "approval")
    response = api.post(f"/deployment/{deployment_id}/deploy?strategy=per_process_instance")
    assert response.status_code == 202
    fields = xml(response)
    reference = jbpm.xml_fields(jbpm.parse_xml(jbpm.ACCEPTED_XML))
    assert list(fields) == list(reference)
    assert int(fields["identifier"]) > 0
    group = deployment_id.split(":")[0]
    assert fields["deploymentUnit"] == {**reference["deploymentUnit"], "groupId": group}
    for field in ("operation", "success", "explanation"):
        assert fields[field] == reference[field], field
    assert status_of(api, deployment_id) in ("ACCEPTED", "DEPLOYING", "DEPLOYED")
    wait_status(api, deployment_id, "DEPLOYED")

    unit = cluster.get("du", ids.unit_name(deployment_id), space)
    assert unit["metadata"]["finalizers"] == [constants.FINALIZER]
    assert unit["metadata"]["annotations"]["bpm.deployunits.io/jbpm-job"] == fields["identifier"]
    assert unit["spec"]["deploymentId"] == deployment_id
    assert unit["spec"]["strategy"] == "PER_PROCESS_INSTANCE"
    assert unit["spec"]["state"] == "Deployed"
    assert unit["spec"]["resources"]["maven"] == {
        "groupId": group,
        "artifactId": "project1",
        "version": "1.0.0-SNAPSHOT",
        "repository": repo.url,
    }
    assert unit["status"]["status"] == "DEPLOYED"

    one = api.get(f"/deployment/{deployment_id}")
    assert xml(one) == {
        "groupId": group,
        "artifactId": "project1",
        "version": "1.0.0-SNAPSHOT",
        "strategy": "PER_PROCESS_INSTANCE",
        "status": "DEPLOYED",
    }
    assert jbpm.parse_xml(one.content).tag == "deployment-unit"
    processes = api.get(f"/deployment/{deployment_id}/processes", headers=JSON_ACCEPT).json()
    assert processes == {
        "processDefinitionList": [
            {
                "id": key,
                "name": key.title(),
                "version": "1.0",
                "packageName": "org.acme",
                "deploymentId": deployment_id,
                "forms": {},
                "variables": {},
            }
            for key in ("approval", "evaluation")
        ],
        "pageNumber": None,
        "pageSize": None,
    }
    listed = api.get("/deployment/", headers=JSON_ACCEPT).json()
    assert deployment_id.split(":")[0] in [u["groupId"] for u in listed["deploymentUnitList"]]


def test_deploy_and_undeploy_refusals(api: httpx.Client, repo: MavenRepo) -> None:
    deployment_id = new_id()
    publish(repo, deployment_id, "p")
    accepted = deploy_json(api, deployment_id, strategy="PER_REQUEST", mergemode="keep_all")
    assert accepted["success"] is True
    assert accepted["explanation"] == "deploy job accepted."
    assert isinstance(accepted["identifier"], int)
    assert accepted["deploymentUnit"]["status"] == "ACCEPTED"
    assert accepted["deploymentUnit"]["strategy"] == "PER_REQUEST"
    wait_status(api, deployment_id, "DEPLOYED")

    again = deploy_json(api, deployment_id)
    assert again["success"] is False
    assert again["identifier"] is None
    assert again["explanation"] == "The deployment already exists and must be first undeployed!"
    assert again["deploymentUnit"]["status"] is None
    assert again["deploymentUnit"]["strategy"] == "PER_REQUEST"
    other = deploy_json(api, deployment_id, strategy="SINGLETON")
    assert other["explanation"] == "The deployment already exists and must be first undeployed!"
    # A deployed unit refuses before the values are checked, as the engine does.
    assert deploy_json(api, deployment_id, strategy="daily")["success"] is False

    undeployed = undeploy_json(api, deployment_id)
    assert (undeployed["success"], undeployed["explanation"]) == (True, "undeploy job accepted.")
    assert undeployed["deploymentUnit"]["strategy"] == "PER_REQUEST"
    assert undeployed["deploymentUnit"]["status"] == "ACCEPTED"
    wait_status(api, deployment_id, "UNDEPLOYED")
    twice = undeploy_json(api, deployment_id)
    assert twice["success"] is False
    assert twice["explanation"] == (
        "The deployment can not be undeployed because it has already been undeployed "
        "(or is currently being undeployed)"
    )
    assert twice["deploymentUnit"]["status"] == "UNDEPLOYED"
    assert twice["deploymentUnit"]["strategy"] is None

    changed = deploy_json(api, deployment_id, strategy="singleton")
    assert changed["success"] is False
    assert changed["explanation"] == (
        f"Unable to deploy deployment '{deployment_id}': IllegalStateException thrown [the "
        "runtime strategy of a deployment cannot change once set (PER_REQUEST, requested "
        "SINGLETON)]"
    )
    redeployed = deploy_json(api, deployment_id)
    assert redeployed["success"] is True
    assert redeployed["deploymentUnit"]["strategy"] == "PER_REQUEST"
    wait_status(api, deployment_id, "DEPLOYED")

    never = new_id()
    unknown = undeploy_json(api, never)
    assert unknown["success"] is False
    assert unknown["explanation"].startswith("The deployment can not be undeployed because it")
    assert unknown["deploymentUnit"]["status"] == "UNDEPLOYED"


def test_a_failed_deploy_refuses_undeploy_and_deploys_again_once_fixed(
    api: httpx.Client, repo: MavenRepo
) -> None:
    deployment_id = new_id("late")
    deploy_json(api, deployment_id)
    wait_status(api, deployment_id, "DEPLOY_FAILED")
    refused = undeploy_json(api, deployment_id)
    assert refused["explanation"] == (
        "The deployment can not be undeployed because the initial deployment failed."
    )
    assert refused["deploymentUnit"]["status"] == "DEPLOY_FAILED"
    publish(repo, deployment_id, "late")
    retried = deploy_json(api, deployment_id)
    assert retried["success"] is True
    wait_status(api, deployment_id, "DEPLOYED")


def test_content_jbpm_would_not_build_fails_the_job_and_schema_slips_pass(
    api: httpx.Client, cluster: Cluster, space: str, repo: MavenRepo
) -> None:
    # jBPM 6.5 fails on a sequence flow it cannot link, and only logs schema violations.
    broken, sloppy = new_id("dangling"), new_id("sloppy")
    for deployment_id, body in (
        (broken, '<bpmn2:sequenceFlow id="f1" sourceRef="start_k" targetRef="missing"/>'),
        (sloppy, '<bpmn2:bogus id="b1"/>'),
    ):
        group, artifact, version = deployment_id.split(":")
        content = jbpm_bpmn("k").replace(b"</bpmn2:process>", body.encode() + b"</bpmn2:process>")
        jar = build_kjar(
            {"com/acme/k.bpmn2": content}, group_id=group, artifact_id=artifact, version=version
        )
        repo.publish(MavenCoordinates(group, artifact, version), jar)
        assert deploy_json(api, deployment_id)["success"] is True
    wait_status(api, broken, "DEPLOY_FAILED")
    wait_status(api, sloppy, "DEPLOYED")
    unit = cluster.get("du", ids.unit_name(broken), space)
    [stalled] = [c for c in unit["status"]["conditions"] if c["type"] == "Stalled"]
    assert stalled["status"] == "True"
    assert "resource 'com/acme/k.bpmn2' line 1, column " in stalled["message"]
    assert "Could not find target node for connection:missing" in stalled["message"]


def publish_with_variables(repo: MavenRepo, deployment_id: str, key: str) -> None:
    """A kjar whose process has three typed variables and an untyped property."""
    content = (
        jbpm_bpmn(key)
        .replace(
            f'<bpmn2:process id="{key}"'.encode(),
            b'<bpmn2:itemDefinition id="_textItem" structureRef="String"/>'
            b'<bpmn2:itemDefinition id="_amountItem" structureRef="java.lang.Integer"/>'
            + f'<bpmn2:process id="{key}"'.encode(),
        )
        .replace(
            f'<bpmn2:startEvent id="start_{key}"/>'.encode(),
            b'<bpmn2:property id="reason" itemSubjectRef="_textItem"/>'
            b'<bpmn2:property id="p2" name="amount" itemSubjectRef="_amountItem"/>'
            b'<bpmn2:property id="employee" itemSubjectRef="_textItem"/>'
            b'<bpmn2:property id="untyped"/>' + f'<bpmn2:startEvent id="start_{key}"/>'.encode(),
        )
    )
    group, artifact, version = deployment_id.split(":")
    jar = build_kjar(
        {"com/acme/vars.bpmn2": content}, group_id=group, artifact_id=artifact, version=version
    )
    repo.publish(MavenCoordinates(group, artifact, version), jar)


def test_processes_list_their_variables_in_xml_and_json(api: httpx.Client, repo: MavenRepo) -> None:
    deployment_id = new_id("vars")
    key = f"vars_{uuid.uuid4().hex[:6]}"
    publish_with_variables(repo, deployment_id, key)
    deploy_json(api, deployment_id)
    wait_status(api, deployment_id, "DEPLOYED")
    # jBPM's map is a java.util.HashMap: its order for these names.
    expected = [("reason", "String"), ("amount", "java.lang.Integer"), ("employee", "String")]
    for path in (f"/deployment/{deployment_id}/processes", "/deployment/processes"):
        listed = api.get(path, headers=JSON_ACCEPT).json()["processDefinitionList"]
        [ours] = [d for d in listed if d["id"] == key]
        assert list(ours["variables"].items()) == expected
        root = jbpm.parse_xml(api.get(path).content)
        [item] = [d for d in root.findall("process-definition") if d.findtext("id") == key]
        entries = item.findall("variables/entry")
        assert [(e.findtext("key"), e.findtext("value")) for e in entries] == expected


@pytest.mark.skipif(kie_remote.missing_tools() is not None, reason=str(kie_remote.missing_tools()))
def test_the_real_wire_classes_read_every_body_and_write_it_back_alike(
    api: httpx.Client, repo: MavenRepo, tmp_path: Path
) -> None:
    """kie-remote-jaxb 6.5 (JAXB for XML, Jackson 1.x for JSON) unmarshals each body of the
    dialect and marshals it again to the same document: no field lost, renamed or reordered."""
    deployment_id = new_id("wire")
    publish_with_variables(repo, deployment_id, f"wire_{uuid.uuid4().hex[:6]}")
    bodies: dict[str, str] = {}
    for media, ext in ((None, "xml"), ("application/json", "json")):
        headers = {"Accept": media} if media else {}
        deploy = api.post(f"/deployment/{deployment_id}/deploy", headers=headers)
        assert deploy.status_code == 202, deploy.text
        bodies[f"job-result.{ext}"] = deploy.text
        wait_status(api, deployment_id, "DEPLOYED")
        for kind, path in (
            ("unit", f"/deployment/{deployment_id}"),
            ("unit-list", "/deployment/?p=1&s=5"),
            ("process-list", f"/deployment/{deployment_id}/processes"),
        ):
            response = api.get(path, headers=headers)
            assert response.status_code == 200, response.text
            bodies[f"{kind}.{ext}"] = response.text
    error = api.get("/deployment/?page=x")
    assert error.status_code == 400, error.text
    bodies["exception.xml"] = error.text
    assert '"variables":{"reason":"String"' in bodies["process-list.json"]

    again = kie_remote.round_trip(bodies, tmp_path / "bodies")
    for name, body in bodies.items():
        if name.endswith(".json"):
            assert kie_remote.same_json(body, again[name]), (name, body, again[name])
        else:
            assert kie_remote.same_xml(body, again[name]), (name, body, again[name])


def bad(response: httpx.Response, status: int, text: str | None) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/xml")
    root = jbpm.parse_xml(response.content)
    assert root.tag == "exception"
    fields = jbpm.xml_fields(root)
    assert fields["status"] == {400: "BAD_REQUEST"}.get(status, "FAILURE")
    assert fields["url"] == str(response.request.url)
    assert "stackTrace" not in fields
    if text is not None:
        assert fields["message"] == f"KieRemoteRestOperationException thrown with message '{text}'"


def test_bad_and_repeated_parameters_are_400(api: httpx.Client) -> None:
    deployment_id = new_id()
    path = f"/deployment/{deployment_id}/deploy"
    bad(
        api.post(path, params={"strategy": "daily"}),
        400,
        "Runtime strategy 'DAILY' does not exist.",
    )
    bad(
        api.post(path, params={"MergeMode": "sometimes"}, headers=JSON_ACCEPT),
        400,
        "Merge mode 'SOMETIMES' does not exist.",
    )
    full_path = f"{jbpm.PREFIX}{path}"
    bad(
        api.post(f"{path}?strategy=SINGLETON&strategy=PER_REQUEST"),
        400,
        f"One and only one 'strategy' query parameter required for '{full_path}' operation "
        "(2 passed).",
    )
    bad(
        api.get("/deployment/?page=x&s=2"),
        400,
        "page parameter does not have a numerical format (x)",
    )
    bad(
        api.post(
            path, content=b"<deployment-descriptor>", headers={"Content-Type": "application/xml"}
        ),
        400,
        None,
    )
    unsupported = api.post(path, content=b"x", headers={"Content-Type": "text/plain"})
    assert (unsupported.status_code, unsupported.content) == (415, b"")
    assert status_of(api, deployment_id) == "UNDEPLOYED"  # nothing was submitted


@pytest.mark.parametrize(
    "deployment_id", ["a:b:c", "g:a:v:kb", "g:a:v:kb:", "g:a:v::ks", "g:a:v::"]
)
def test_valid_ids_match_the_routes(api: httpx.Client, deployment_id: str) -> None:
    response = api.get(f"/deployment/{deployment_id}", headers=JSON_ACCEPT)
    assert response.status_code == 200, response.text
    body = response.json()
    parts = ids.parse(deployment_id)
    assert (body["groupId"], body["artifactId"], body["version"]) == (
        parts.group_id,
        parts.artifact_id,
        parts.version,
    )
    assert (body["kbaseName"], body["ksessionName"]) == (parts.kbase, parts.ksession)
    assert body["status"] == "UNDEPLOYED"
    assert api.get(f"/deployment/{deployment_id}/processes").status_code == 200


@pytest.mark.parametrize(
    "deployment_id", ["g:a:v:kb:ks:x", "g:a b:v", "g:a:v$", "::v", "g:a", quote("g:a:v:\u00e9")]
)
def test_invalid_ids_are_bare_404(api: httpx.Client, deployment_id: str) -> None:
    for method, path in (
        ("GET", f"/deployment/{deployment_id}"),
        ("POST", f"/deployment/{deployment_id}/deploy"),
        ("POST", f"/deployment/{deployment_id}/undeploy"),
        ("GET", f"/deployment/{deployment_id}/processes"),
    ):
        response = api.request(method, path)
        assert (response.status_code, response.content) == (404, b""), (method, path)


def test_unknown_methods_are_bare_405(api: httpx.Client) -> None:
    response = api.get("/deployment/a:b:c/deploy")
    assert (response.status_code, response.content) == (405, b"")
    assert "POST" in response.headers["allow"]


def test_list_paging_and_processes(api: httpx.Client, cluster: Cluster, space: str) -> None:
    group = f"paging{uuid.uuid4().hex[:6]}"
    names = []
    for index in range(5):
        deployment_id = f"{group}:unit:{index}"
        name = unique_name("paged")
        names.append(name)
        cluster.apply(
            inline_unit(name, deployment_id, f"{group}_p{index}_a", f"{group}_p{index}_b"), space
        )
    for name in names:
        cluster.kubectl("wait", "--for=condition=Ready", f"du/{name}", "-n", space, "--timeout=60s")

    def ours(body: dict[str, Any]) -> list[str]:
        return [u["version"] for u in body["deploymentUnitList"] if u["groupId"] == group]

    everything = api.get("/deployment/", headers=JSON_ACCEPT).json()
    assert ours(everything) == ["0", "1", "2", "3", "4"]
    assert (everything["pageNumber"], everything["pageSize"]) == (None, None)
    ids_sorted = [
        f"{u['groupId']}:{u['artifactId']}:{u['version']}" for u in everything["deploymentUnitList"]
    ]
    assert ids_sorted == sorted(ids_sorted)
    assert all(u["status"] == "DEPLOYED" for u in everything["deploymentUnitList"])
    total = len(everything["deploymentUnitList"])
    page = api.get("/deployment/?page=2&pagesize=2", headers=JSON_ACCEPT).json()
    assert (page["pageNumber"], page["pageSize"]) == (2, 2)
    assert page["deploymentUnitList"] == everything["deploymentUnitList"][2:4]
    short = api.get("/deployment?s=3", headers=JSON_ACCEPT).json()
    assert (short["pageNumber"], short["pageSize"]) == (1, 3)
    assert short["deploymentUnitList"] == everything["deploymentUnitList"][:3]
    no_paging = api.get("/deployment/?p=2&s=0", headers=JSON_ACCEPT).json()
    assert len(no_paging["deploymentUnitList"]) == total
    as_xml = jbpm.parse_xml(api.get("/deployment/?p=1&s=2").content)
    assert jbpm.child_order(as_xml) == [
        "deployment-unit",
        "deployment-unit",
        "page-number",
        "page-size",
    ]

    one = f"{group}:unit:3"
    processes = api.get(f"/deployment/{one}/processes?p=1&s=1", headers=JSON_ACCEPT).json()
    assert [p["id"] for p in processes["processDefinitionList"]] == [f"{group}_p3_a"]
    assert (processes["pageNumber"], processes["pageSize"]) == (1, 1)
    second = api.get(f"/deployment/{one}/processes?p=2&s=1", headers=JSON_ACCEPT).json()
    assert [p["id"] for p in second["processDefinitionList"]] == [f"{group}_p3_b"]
    every = api.get("/deployment/processes", headers=JSON_ACCEPT).json()
    mine = [p["id"] for p in every["processDefinitionList"] if p["deploymentId"].startswith(group)]
    assert mine == [f"{group}_p{i}_{x}" for i in range(5) for x in "ab"]
    xml_list = jbpm.parse_xml(api.get(f"/deployment/{one}/processes").content)
    assert xml_list.tag == "process-definition-list"
    first = xml_list.find("process-definition")
    assert first is not None
    assert jbpm.xml_fields(first) == {
        "id": f"{group}_p3_a",
        "name": f"{group}_p3_a".title(),
        "version": "1.0",
        "package-name": "org.acme",
        "deployment-id": one,
        "forms": "",
        "variables": "",
    }


def test_descriptors_on_post_and_put(api: httpx.Client, repo: MavenRepo) -> None:
    by_put = new_id()
    publish(repo, by_put, "d")
    descriptor = (
        b"<deployment-descriptor><persistence-unit>org.jbpm.domain</persistence-unit>"
        b"<runtime-strategy>PER_REQUEST</runtime-strategy></deployment-descriptor>"
    )
    put = api.put(
        f"/deployment/{by_put}/deploy",
        content=descriptor,
        headers={"Content-Type": "application/xml", **JSON_ACCEPT},
    )
    assert job(put)["deploymentUnit"]["strategy"] == "PER_REQUEST"
    by_post = new_id()
    post = api.post(
        f"/deployment/{by_post}/deploy",
        json={"runtimeStrategy": "PER_PROCESS_INSTANCE", "auditMode": "NONE"},
        headers=JSON_ACCEPT,
    )
    assert job(post)["deploymentUnit"]["strategy"] == "PER_PROCESS_INSTANCE"
    param_wins = new_id()
    both = api.post(
        f"/deployment/{param_wins}/deploy?strategy=SINGLETON",
        json={"runtimeStrategy": "PER_REQUEST"},
        headers=JSON_ACCEPT,
    )
    assert job(both)["deploymentUnit"]["strategy"] == "SINGLETON"
    wait_status(api, by_put, "DEPLOYED")


def test_errors_are_xml_even_when_json_is_asked_for(api: httpx.Client) -> None:
    response = api.post("/deployment/a:b:c/deploy?strategy=x", headers=JSON_ACCEPT)
    bad(response, 400, "Runtime strategy 'X' does not exist.")


def test_rest_deploy_then_kubectl_undeploy_and_the_other_way_round(
    api: httpx.Client, cluster: Cluster, space: str, repo: MavenRepo
) -> None:
    by_rest = new_id("rest")
    publish(repo, by_rest, "rest")
    deploy_json(api, by_rest)
    wait_status(api, by_rest, "DEPLOYED")
    name = ids.unit_name(by_rest)
    cluster.kubectl(
        "patch", "du", name, "-n", space, "--type=merge", "-p", '{"spec":{"state":"Undeployed"}}'
    )
    wait_status(api, by_rest, "UNDEPLOYED")
    assert (
        api.get(f"/deployment/{by_rest}/processes", headers=JSON_ACCEPT).json()[
            "processDefinitionList"
        ]
        == []
    )

    by_kubectl = f"kube{uuid.uuid4().hex[:6]}:unit:1"
    unit = unique_name("kube")
    cluster.apply(inline_unit(unit, by_kubectl, f"k{uuid.uuid4().hex[:6]}"), space)
    wait_status(api, by_kubectl, "DEPLOYED")
    undeployed = undeploy_json(api, by_kubectl)
    assert undeployed["success"] is True
    wait_status(api, by_kubectl, "UNDEPLOYED")
    assert cluster.get("du", unit, space)["spec"]["state"] == "Undeployed"
    cluster.kubectl("wait", "--for=condition=Ready", f"du/{unit}", "-n", space, "--timeout=60s")
    again = deploy_json(api, by_kubectl)
    assert again["success"] is True
    wait_status(api, by_kubectl, "DEPLOYED")
    assert cluster.get("du", unit, space)["spec"]["state"] == "Deployed"


def test_the_crd_refuses_a_strategy_change_by_kubectl(
    api: httpx.Client, cluster: Cluster, space: str, repo: MavenRepo
) -> None:
    deployment_id = new_id("cel")
    publish(repo, deployment_id, "cel")
    deploy_json(api, deployment_id, strategy="PER_REQUEST")
    wait_status(api, deployment_id, "DEPLOYED")
    changed = cluster.kubectl(
        "patch",
        "du",
        ids.unit_name(deployment_id),
        "-n",
        space,
        "--type=merge",
        "-p",
        '{"spec":{"strategy":"SINGLETON"}}',
        check=False,
    )
    assert changed.returncode != 0
    assert "strategy cannot change once set" in changed.stderr


def test_reads_see_the_job_move_through_the_statuses(api: httpx.Client, repo: MavenRepo) -> None:
    deployment_id = new_id("moving")
    publish(repo, deployment_id, "moving")
    deploy_json(api, deployment_id)
    seen: list[str] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not seen or seen[-1] != "DEPLOYED"):
        seen.append(status_of(api, deployment_id))
    assert seen[-1] == "DEPLOYED"
    allowed = {"ACCEPTED", "DEPLOYING", "DEPLOYED"}
    assert set(seen) <= allowed, seen
