"""The shim as a Camunda 7 engine's sidecar: existing clients work end to end through it.

Matrix: pycamunda (unchanged, from PyPI) deploys a BPMN with a user task through an engine-bound
shim and gets the engine's ids, starts instances by the returned definition id and by key,
completes the task and finds the instance in history, all through the shim; a DMN deployed
through the shim is evaluated through it; the engine's refusal is the engine's own status and
body; a delete while instances run is refused as the engine refuses it (and a cascade that
the ProcessEngine's deletePolicy keeps from happening), and goes through once they ended; a
redeploy by the engine's id answers with the engine's new deployment; reads accept
the engine's ids and the unit's own; lists and counts through the shim equal
the engine's own after a mix of shim and direct deployments (adoptExisting); the caller's
Authorization never reaches the engine; named engines bind, and a sidecar reaches its engine at
its own URL; nothing under /deployment is ever forwarded, however
spelled; forwarded bodies over the size limit (declared or streamed) get 413, too slow ones
408; auth mode kubernetes: 401 without a token, 403 without `get` on the ProcessEngine; the
engine stopped gives 503 with Retry-After in Camunda's error shape, and its return recovery.

The module runs its own engine (basic auth on): the list comparison needs an engine that holds
only this module's deployments, and the last test stops and starts it.
"""

import http.client
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pycamunda.decisiondef as decisiondef
import pycamunda.deployment as deployment
import pycamunda.processdef as processdef
import pycamunda.task as task
import pytest

from deployunits.engines import NewDeployment, NewResource
from deployunits.reconcile import engine as decide
from devcluster.processes import OperatorProcess, ShimProcess, wait_for
from tests.support import rbac
from tests.support.cluster import Cluster
from tests.support.engine import (
    RunningEngine,
    add_engine,
    call,
    camunda7_engine,
    patch_engine,
    user_task_process,
)

DECISION = b"""<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="approval"
             name="Approval" namespace="http://deployunits.io/test">
  <decision id="approve" name="Approve">
    <variable name="approved" typeRef="boolean"/>
    <literalExpression><text>amount &lt; 1000</text></literalExpression>
  </decision>
</definitions>
"""
BROKEN = b"""<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" targetNamespace="http://x">
  <process id="broken" isExecutable="true">
    <startEvent id="start"/>
    <sequenceFlow id="flow" sourceRef="start" targetRef="nowhere"/>
  </process>
</definitions>
"""

pytestmark = pytest.mark.usefixtures("operator")


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEngine]:
    with camunda7_engine(tmp_path_factory.mktemp("sidecar-engine")) as running:
        yield running


@pytest.fixture(scope="module")
def bound(cluster: Cluster, space: str, engine: RunningEngine, operator: OperatorProcess) -> str:
    """The module's namespace with ProcessEngine `camunda` (adopting what it finds), Ready."""
    add_engine(cluster, space, engine, resync=5)
    patch_engine(cluster, space, {"adoptExisting": True})
    cluster.wait_condition("camunda", space, "Ready", operator, kind="pe")
    return space


@pytest.fixture(scope="module")
def sidecar(start_shim: Callable[..., ShimProcess], bound: str) -> ShimProcess:
    """A shim (auth mode none) whose default engine is bound to ProcessEngine `camunda`."""
    return start_shim(namespace=bound, env={"DEPLOYUNITS_ENGINE": "camunda"})


@pytest.fixture
def url(sidecar: ShimProcess) -> str:
    return sidecar.engine()


@pytest.fixture
def shim_http(url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url, timeout=60) as client:
        yield client


@pytest.fixture
def engine_http(engine: RunningEngine) -> Iterator[httpx.Client]:
    """The engine itself, with its credentials."""
    with httpx.Client(
        base_url=engine.url, auth=(engine.credentials.username, engine.credentials.password)
    ) as client:
        yield client


def create(url: str, name: str, *files: tuple[str, bytes]) -> deployment.DeploymentWithDefinitions:
    request = deployment.Create(url, name=name)
    for file in files:
        request.add_resource(file)
    return request()


class TestExistingClients:
    def test_pycamunda_deploys_starts_completes_and_finds_history(
        self, url: str, shim_http: httpx.Client, engine_http: httpx.Client
    ) -> None:
        created = create(url, "orders", ("order.bpmn", user_task_process("order")))
        # The engine's own deployment, ids and versions.
        in_engine = engine_http.get(f"/deployment/{created.id_}").json()
        assert (in_engine["id"], in_engine["name"]) == (created.id_, "orders")
        [definition] = created.deployed_process_definitions.values()
        engine_definitions = engine_http.get(
            "/process-definition", params={"deploymentId": created.id_}
        ).json()
        assert [(d["id"], d["key"], d["version"]) for d in engine_definitions] == [
            (definition.id_, "order", 1)
        ]

        by_id = processdef.StartInstance(url, id_=definition.id_, business_key="by-id")()
        by_key = processdef.StartInstance(url, key="order", business_key="by-key")()
        assert by_id.definition_id == by_key.definition_id == definition.id_

        [waiting] = task.GetList(url, process_instance_id=by_id.id_)()
        assert waiting.name == "Wait"
        task.Complete(url, id_=waiting.id_)()
        assert task.GetList(url, process_instance_id=by_id.id_)() == ()

        history = shim_http.get(
            "/history/process-instance", params={"processInstanceId": by_id.id_}
        )
        assert history.status_code == 200
        [finished] = history.json()
        assert (finished["businessKey"], finished["state"]) == ("by-id", "COMPLETED")
        assert finished["processDefinitionId"] == definition.id_

    def test_a_decision_deployed_through_the_shim_is_evaluated_through_it(self, url: str) -> None:
        created = create(url, "approval", ("approval.dmn", DECISION))
        [decision] = created.deployed_decision_definitions.values()
        assert decision.key == "approve"
        evaluate = decisiondef.Evaluate(url, key="approve")
        evaluate.add_variable("amount", 250, type_="Integer")
        [result] = evaluate()
        assert result["approved"].value is True
        by_id = decisiondef.Evaluate(url, id_=decision.id_)
        by_id.add_variable("amount", 5000, type_="Integer")
        assert by_id()[0]["approved"].value is False

    def test_reads_accept_the_engines_id_and_the_units_own(
        self, cluster: Cluster, bound: str, url: str, shim_http: httpx.Client
    ) -> None:
        created = create(url, "ids", ("ids.bpmn", user_task_process("ids")))
        listed = json.loads(cluster.kubectl("get", "du", "-n", bound, "-o", "json").stdout)
        [own] = [
            unit["spec"]["deploymentId"]
            for unit in listed["items"]
            if (unit.get("status", {}).get("engine") or {}).get("deploymentId") == created.id_
        ]
        assert own != created.id_
        for deployment_id in (created.id_, own):
            got = shim_http.get(f"/deployment/{deployment_id}")
            assert got.status_code == 200
            assert got.json()["id"] == created.id_
            [resource] = shim_http.get(f"/deployment/{deployment_id}/resources").json()
            assert resource["deploymentId"] == created.id_
            data = shim_http.get(f"/deployment/{deployment_id}/resources/{resource['id']}/data")
            assert data.content == user_task_process("ids")

    def test_a_redeploy_by_the_engines_id_answers_with_the_engines_new_deployment(
        self, url: str, shim_http: httpx.Client, engine_http: httpx.Client
    ) -> None:
        created = create(url, "again", ("again.bpmn", user_task_process("again")))
        answer = shim_http.post(f"/deployment/{created.id_}/redeploy", json={"source": "retry"})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["id"] != created.id_
        # Through the shim the source is the one sent; the engine's own record carries the
        # push marker (the unit's uid) after it, which makes the push recognisable there.
        assert shim_http.get(f"/deployment/{body['id']}").json()["source"] == "retry"
        in_engine_source = engine_http.get(f"/deployment/{body['id']}").json()["source"]
        assert in_engine_source.startswith("retry (deployunits:"), in_engine_source
        [definition] = body["deployedProcessDefinitions"].values()
        assert (definition["key"], definition["version"]) == ("again", 2)
        in_engine = engine_http.get(f"/process-definition/{definition['id']}").json()
        assert (in_engine["deploymentId"], in_engine["version"]) == (body["id"], 2)

    def test_a_deployment_with_running_instances_is_deleted_as_the_engine_would(
        self, url: str, shim_http: httpx.Client, engine_http: httpx.Client
    ) -> None:
        created = create(url, "busy", ("busy.bpmn", user_task_process("busy")))
        running = processdef.StartInstance(url, key="busy")()
        path = f"/deployment/{created.id_}"
        # Without cascade the engine refuses (and so does nothing); the shim answers alike.
        direct = engine_http.delete(path)
        refused = shim_http.delete(path)
        assert refused.status_code == direct.status_code == 500
        assert refused.json() == direct.json()
        assert shim_http.get(path).status_code == 200
        # The module's ProcessEngine keeps instances (KeepInstances): a cascade is refused.
        kept = shim_http.delete(path, params={"cascade": "true"})
        assert kept.status_code == 400
        assert "KeepInstances" in kept.json()["message"]
        assert shim_http.get(path).status_code == 200
        # Once the instance has ended the delete goes through, in the engine too.
        [waiting] = task.GetList(url, process_instance_id=running.id_)()
        task.Complete(url, id_=waiting.id_)()
        assert shim_http.delete(path).status_code == 204
        wait_for(
            lambda: engine_http.get(path).status_code == 404,
            timeout=60,
            what="the engine's deployment to go",
        )

    def test_the_engines_refusal_is_its_own_answer(
        self, shim_http: httpx.Client, engine_http: httpx.Client
    ) -> None:
        files = {"data": ("broken.bpmn", BROKEN)}
        direct = engine_http.post("/deployment/create", files=files)
        through = shim_http.post("/deployment/create", files=files)
        assert direct.status_code == 400
        assert through.status_code == direct.status_code
        expected, answered = direct.json(), through.json()
        assert answered["type"] == expected["type"] == "ParseException"
        assert answered["message"] == expected["message"]
        # Problems with their lines, columns and elements; warnings are not recorded.
        for report in expected["details"].values():
            report["warnings"] = []
        assert answered["details"] == expected["details"]


class TestLists:
    def test_lists_and_counts_equal_the_engines_after_shim_and_direct_deployments(
        self,
        engine: RunningEngine,
        url: str,
        shim_http: httpx.Client,
        engine_http: httpx.Client,
    ) -> None:
        create(url, "mixed-a", ("a.bpmn", user_task_process("mixed_a")))
        direct = NewDeployment(
            name="mixed-direct",
            source="ci",
            resources=(NewResource(name="d.bpmn", content=user_task_process("mixed_d")),),
        )
        made = call(engine.connection(), lambda client: client.create_deployment(direct))
        create(url, "mixed-b", ("b.bpmn", user_task_process("mixed_b")))

        def ids(client: httpx.Client) -> list[str]:
            answer = client.get("/deployment", params={"sortBy": "id", "sortOrder": "asc"})
            return [d["id"] for d in answer.json()]

        # The direct deployment becomes a unit within two resyncs of the ProcessEngine.
        wait_for(lambda: made.id in ids(shim_http), timeout=90, what="the adopted deployment")
        assert ids(shim_http) == ids(engine_http)

        def listed(client: httpx.Client) -> list[dict[str, Any]]:
            answer = client.get(
                "/deployment", params={"sortBy": "deploymentTime", "sortOrder": "asc"}
            )
            # Links name the host each was asked at. The engine's record of a push carries the
            # push marker in its source (a deliberate deviation: README, "The shim as a
            # sidecar"); through the shim the source is the one the client sent.
            return [
                {**d, "links": None, "source": unmarked_source(d["source"])} for d in answer.json()
            ]

        assert listed(shim_http) == listed(engine_http)
        for params in ({}, {"name": "mixed-direct"}, {"source": "ci"}, {"nameLike": "mixed%"}):
            shim_count = shim_http.get("/deployment/count", params=params).json()
            assert shim_count == engine_http.get("/deployment/count", params=params).json()
        named = shim_http.get("/deployment", params={"name": "mixed-direct"}).json()
        assert [(d["id"], d["source"]) for d in named] == [(made.id, "ci")]


def unmarked_source(source: str | None) -> str | None:
    """A deployment's source as the client sent it, without the push marker of a unit."""
    if source is None or decide.pushed_by(source) is None:
        return source
    kept = source.rsplit(" (deployunits:", 1)[0]
    return None if kept.startswith("deployunits:") else kept


class TestPassThrough:
    def test_the_callers_authorization_stays_behind(self, shim_http: httpx.Client) -> None:
        # The engine refuses these credentials; the shim sends the ProcessEngine's instead.
        answer = shim_http.get("/process-definition/count", auth=("someone", "wrong"))
        assert answer.status_code == 200
        assert answer.json()["count"] >= 1

    def test_the_engines_status_headers_and_body_come_back(
        self, shim_http: httpx.Client, engine_http: httpx.Client
    ) -> None:
        missing = "/process-definition/key/no-such-key"
        through, direct = shim_http.get(missing), engine_http.get(missing)
        assert through.status_code == direct.status_code == 404
        assert through.json() == direct.json()
        assert through.headers["content-type"] == direct.headers["content-type"]

    def test_a_forwarded_answer_has_the_engines_headers_only(
        self, shim_http: httpx.Client, engine_http: httpx.Client
    ) -> None:
        through = shim_http.get("/process-definition/count")
        direct = engine_http.get("/process-definition/count")
        # Connection and Keep-Alive are about the engine's connection, not the answer.
        hop_by_hop = {"connection", "keep-alive"}
        assert sorted(through.headers.keys()) == sorted(set(direct.headers.keys()) - hop_by_hop)
        assert len(through.headers.get_list("date")) == 1
        assert "server" not in through.headers
        # The shim's own answers are dated once too.
        own = shim_http.get("/deployment/count")
        assert len(own.headers.get_list("date")) == 1

    def test_version_is_the_engines_and_forwarded_calls_count_under_one_route(
        self, sidecar: ShimProcess, shim_http: httpx.Client, engine_http: httpx.Client
    ) -> None:
        assert shim_http.get("/version").json() == engine_http.get("/version").json()
        shim_http.get("/process-definition/key/no-such-key")
        metrics = httpx.get(f"{sidecar.url}/metrics").text
        forwarded = 'method="GET",route="/engine-rest/{path}",status="200"'
        assert any(
            line.startswith("deployunits_shim_requests_total{") for line in metrics.splitlines()
        )
        assert forwarded in metrics
        # Answered by the engine, not by the shim's own /version; no ids in the labels.
        assert 'route="/engine-rest/version"' not in metrics
        assert "no-such-key" not in metrics

    # (A percent-encoded `/deployment/create` is the shim's own route, which makes a unit.)
    @pytest.mark.parametrize(
        "path",
        [
            "/deployment;x=1/create",
            "/Deployment/create",
            "/process-definition/../deployment/create",
            "/process-definition/%2e%2e/deployment/create",
            "/process-definition%2F..%2Fdeployment/create",
            "/engine/no-such-engine/deployment/create",
            "/engine/no-such-engine/process-definition/count",
        ],
    )
    def test_nothing_under_deployment_is_ever_forwarded(
        self, sidecar: ShimProcess, engine_http: httpx.Client, path: str
    ) -> None:
        before = engine_http.get("/deployment/count").json()["count"]
        # http.client sends the path as given (httpx would remove the dot segments).
        upload = httpx.Request(
            "POST", sidecar.url, files={"data": ("x.bpmn", user_task_process("sneaky"))}
        )
        upload.read()
        connection = http.client.HTTPConnection("127.0.0.1", sidecar.port, timeout=30)
        try:
            connection.request("POST", f"/engine-rest{path}", upload.content, dict(upload.headers))
            answer = connection.getresponse()
            answer.read()
        finally:
            connection.close()
        assert answer.status in (400, 404, 405)
        assert engine_http.get("/deployment/count").json()["count"] == before

    def test_named_engines_bind_and_a_sidecar_reaches_its_engine_at_its_own_url(
        self,
        cluster: Cluster,
        bound: str,
        engine: RunningEngine,
        start_shim: Callable[..., ShimProcess],
        engine_http: httpx.Client,
    ) -> None:
        # A ProcessEngine whose URL the shim cannot reach; the shim's own engine URL wins.
        add_engine(cluster, bound, engine, name="elsewhere")
        unreachable = {"spec": {"camunda7": {"url": "http://127.0.0.1:9/engine-rest"}}}
        cluster.kubectl(
            "patch", "pe", "elsewhere", "-n", bound, "--type=merge", "-p", json.dumps(unreachable)
        )
        sidecar = start_shim(
            namespace=bound,
            env={"DEPLOYUNITS_ENGINE": "elsewhere", "DEPLOYUNITS_ENGINE_URL": engine.url},
        )
        count = engine_http.get("/process-definition/count").json()
        assert httpx.get(f"{sidecar.engine()}/process-definition/count").json() == count

        named = start_shim(env={"DEPLOYUNITS_ENGINES": json.dumps({bound: "camunda"})})
        assert httpx.get(f"{named.engine(bound)}/process-definition/count").json() == count
        # The default engine (namespace default) is not bound: nothing is forwarded for it.
        assert httpx.get(f"{named.engine()}/process-definition/count").status_code == 404

    def test_forwarded_bodies_have_the_shims_size_and_time_limits(
        self, bound: str, start_shim: Callable[..., ShimProcess]
    ) -> None:
        shim = start_shim(
            namespace=bound,
            env={
                "DEPLOYUNITS_ENGINE": "camunda",
                "DEPLOYUNITS_MAX_REQUEST_BYTES": "2048",
                "DEPLOYUNITS_REQUEST_BODY_TIMEOUT_SECONDS": "1",
            },
        )
        big = json.dumps({"messageName": "x" * 4096}).encode()
        headers = {"content-type": "application/json"}
        declared = httpx.post(f"{shim.engine()}/message", content=big, headers=headers)
        assert declared.status_code == 413

        def chunks() -> Iterator[bytes]:
            yield big[:1000]
            yield big[1000:]

        # Without a Content-Length: cut off while it streams.
        streamed = httpx.post(f"{shim.engine()}/message", content=chunks(), headers=headers)
        assert streamed.status_code == 413
        assert streamed.json()["type"] == "WebApplicationException"

        def slowly() -> Iterator[bytes]:
            yield b'{"messageName":'
            time.sleep(2)
            yield b'"late"}'

        late = httpx.post(f"{shim.engine()}/message", content=slowly(), headers=headers)
        assert late.status_code == 408
        assert late.json()["type"] == "WebApplicationException"


class TestKubernetesAuth:
    def test_forwarded_calls_need_get_on_the_process_engine(
        self, cluster: Cluster, bound: str, start_shim: Callable[..., ShimProcess]
    ) -> None:
        shim = start_shim(
            namespace=bound,
            auth_mode="kubernetes",
            env={"DEPLOYUNITS_ENGINE": "camunda", "DEPLOYUNITS_AUTH_CACHE_SECONDS": "0"},
        )
        tokens = rbac.accounts(
            cluster,
            bound,
            {
                "engine-user": {"processengines": ["get"]},
                "units-only": {"deploymentunits": ["get", "list", "create"]},
            },
        )
        path = f"{shim.engine()}/process-definition/count"
        missing = httpx.get(path, timeout=30)
        assert missing.status_code == 401
        assert missing.json()["type"] == "AuthenticationException"
        refused = httpx.get(path, headers=rbac.bearer(tokens["units-only"]), timeout=30)
        assert refused.status_code == 403
        body = refused.json()
        assert (body["type"], body["resourceName"]) == ("AuthorizationException", "ProcessEngine")
        allowed = httpx.get(path, headers=rbac.bearer(tokens["engine-user"]), timeout=30)
        assert allowed.status_code == 200
        assert "count" in allowed.json()


class TestEngineDown:
    """Last in the module: it stops the engine (its in-memory data goes with it)."""

    def test_a_stopped_engine_is_503_with_retry_after_then_recovers(
        self, engine: RunningEngine, shim_http: httpx.Client
    ) -> None:
        engine.process.stop()
        try:
            down = shim_http.get("/process-definition/count")
            assert down.status_code == 503
            assert int(down.headers["retry-after"]) > 0
            body: dict[str, Any] = down.json()
            assert body["type"] == "ProcessEngineException"
            assert "cannot be reached" in body["message"]
        finally:
            engine.process.start()
        started = time.monotonic()
        again = shim_http.get("/process-definition/count")
        assert again.status_code == 200, again.text
        assert time.monotonic() - started < 10
