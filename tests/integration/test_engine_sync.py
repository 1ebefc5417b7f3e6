"""Bound units reach a real Camunda 7 engine: push, refusal, credentials, undeploy, drift, once.

Matrix: an inline unit's bytes and versions in the engine (one create, no look-up); a ConfigMap
unit's and a Maven kjar unit's bytes in the engine; an unbound unit stays stored only; a
schema-invalid BPMN refused with the engine's line and column; the activation time keeps the
definitions suspended until then (and one that is no time fails the job); wrong credentials
(engine Stalled, unit Reconciling, nothing shown of the secret), then fixed; undeploy with a
running instance under KeepInstances refused, then Cascade; deletion deletes the engine's
deployment; a deployment deleted in the engine restored within one resync; a default engine
created later receives the namespace's units; a push recorded nowhere found rather than repeated;
kill -9 of the operator during a burst leaves no duplicate; an edited unit's superseded
deployment stays its own (not unmanaged, not adopted) until the unit goes; a deleted
ProcessEngine waits for its units; an engine stopped during a burst of 50 ends with each once;
adoption of an engine's deployment.

Each test has its own namespace with a Secret and a ProcessEngine pointing at the session's
engine (basic auth on); the operator is the session's subprocess, which reaches the engine on
loopback like any client.
"""

import base64
import hashlib
import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from deployunits.constants import ACTIVATION_TIME_ANNOTATION
from deployunits.content.maven import MavenCoordinates
from deployunits.engines import Camunda7Client, NewDeployment, NewResource
from deployunits.reconcile.engine import PUSH_MARKER
from devcluster.kjars import KMODULE_XML, build_kjar
from devcluster.processes import OperatorProcess, wait_for
from tests.support.cluster import Cluster, condition
from tests.support.engine import (
    RunningEngine,
    add_engine,
    add_unit,
    bound_unit,
    call,
    camunda7_engine,
    patch_engine,
    user_task_process,
)
from tests.support.maven_repo import MavenRepo, maven_repo_fixture  # noqa: F401
from tests.support.metrics import scrape
from tests.support.models import bpmn

pytestmark = pytest.mark.usefixtures("operator")


def events_of(cluster: Cluster, namespace: str, selector: str) -> str:
    """The namespace's Events that match a field selector, as kubectl prints them in JSON."""
    return json.dumps(cluster.events(namespace, selector))


def ready_engine(
    cluster: Cluster, namespace: str, camunda7: RunningEngine, operator: OperatorProcess
) -> None:
    """The session engine as ProcessEngine `camunda` of the namespace, once it is Ready."""
    add_engine(cluster, namespace, camunda7)
    cluster.wait_condition("camunda", namespace, "Ready", operator, kind="pe")


def engine_deployments(camunda7: RunningEngine, name: str) -> list[Any]:
    return call(camunda7.connection(), lambda client: client.deployments(name=name))


def status_of(cluster: Cluster, name: str, namespace: str) -> dict[str, Any]:
    found: dict[str, Any] = cluster.get("du", name, namespace).get("status") or {}
    return found


def eventually(
    cluster: Cluster, name: str, namespace: str, test: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """The unit's status once `test` holds (up to 60 s)."""
    seen: dict[str, Any] = {}

    def check() -> bool:
        seen.clear()
        seen.update(status_of(cluster, name, namespace))
        return test(seen)

    try:
        wait_for(check, timeout=60, what=f"{name}'s status")
    except AssertionError:
        raise AssertionError(json.dumps(seen, indent=1)) from None
    return seen


def reconciling(status: dict[str, Any]) -> bool:
    """A job is in progress (Reconciling=True)."""
    return any(
        c["type"] == "Reconciling" and c["status"] == "True" for c in status.get("conditions", [])
    )


def deployed_anew(old: str) -> Callable[[dict[str, Any]], bool]:
    """The unit's engine deployment is another than `old`."""
    return lambda status: (status.get("engine") or {}).get("deploymentId") not in (None, old)


class TestPush:
    def test_an_inline_unit_reaches_the_engine_with_the_same_bytes_and_versions(
        self, cluster: Cluster, operator: OperatorProcess, namespace: str, camunda7: RunningEngine
    ) -> None:
        ready_engine(cluster, namespace, camunda7, operator)
        before = scrape(operator)
        content = bpmn("pushed_" + namespace.replace("-", "_")).encode()
        add_unit(cluster, namespace, "hello", {"hello.bpmn": content})
        unit = cluster.wait_condition("hello", namespace, "EngineSynced", operator)
        after = scrape(operator)
        status = unit["status"]
        assert status["status"] == "DEPLOYED"
        assert condition(unit, "Ready")["status"] == "True"
        engine = status["engine"]
        assert engine["name"] == "camunda"
        deployment_id = engine["deploymentId"]

        async def inspect(client: Camunda7Client) -> tuple[Any, list[Any], bytes, Any]:
            deployment = await client.deployment(deployment_id)
            resources = await client.resources(deployment_id)
            data = await client.resource_data(deployment_id, resources[0].id)
            return deployment, resources, data, await client.process_definitions(deployment_id)

        deployment, resources, data, processes = call(camunda7.connection(), inspect)
        assert deployment is not None and deployment.name == f"{namespace}-hello"
        assert [r.name for r in resources] == ["hello.bpmn"]
        assert data == content
        # What kubectl shows is what the engine runs: its ids and versions.
        [process] = processes
        [definition] = status["definitions"]
        assert (definition["id"], definition["key"], definition["version"]) == (
            process.id,
            process.key,
            process.version,
        )
        assert engine["definitions"][0]["id"] == process.id
        # One push, nothing more: one create and no look-up on the happy path.
        assert len(engine_deployments(camunda7, f"{namespace}-hello")) == 1

        def calls(samples: dict[str, float], call: str) -> float:
            return samples.get(f'deployunits_engine_calls_total{{call="{call}"}}', 0.0)

        assert calls(after, "create") - calls(before, "create") == 1
        assert calls(after, "lookup") - calls(before, "lookup") == 0

    def test_a_unit_without_an_engine_stays_stored_only(
        self, cluster: Cluster, operator: OperatorProcess, namespace: str
    ) -> None:
        add_unit(cluster, namespace, "plain", {"plain.bpmn": bpmn("plain").encode()}, engine=None)
        unit = cluster.wait_condition("plain", namespace, "Ready", operator)
        assert "engine" not in unit["status"]
        assert condition(unit, "EngineSynced") is None

    def test_a_schema_invalid_bpmn_is_refused_with_the_engines_line_and_column(
        self, cluster: Cluster, operator: OperatorProcess, namespace: str, camunda7: RunningEngine
    ) -> None:
        add_engine(cluster, namespace, camunda7)
        broken = user_task_process("broken_" + namespace.replace("-", "_")).replace(
            b'<endEvent id="end"/>', b'<endEvent id="end"><startEvent id="inner"/></endEvent>'
        )
        add_unit(cluster, namespace, "broken", {"broken.bpmn": broken})
        unit = cluster.wait_condition("broken", namespace, "Stalled", operator)
        status = unit["status"]
        assert status["status"] == "DEPLOY_FAILED"
        [line] = [n for n, text in enumerate(broken.decode().splitlines(), 1) if "inner" in text]
        problem = next(
            p for p in status["engine"]["problems"] if "cvc-complex-type" in p["message"]
        )
        assert (problem["resource"], problem["line"]) == ("broken.bpmn", line)
        assert problem["column"] > 0
        stalled = condition(unit, "Stalled")
        assert f"broken.bpmn line {line}, column {problem['column']}" in stalled["message"]
        assert "refused" in stalled["message"]
        assert engine_deployments(camunda7, f"{namespace}-broken") == []


def engine_content(camunda7: RunningEngine, deployment_id: str) -> dict[str, bytes]:
    """Each resource of an engine deployment by name, with the bytes the engine returns."""

    async def read(client: Camunda7Client) -> dict[str, bytes]:
        resources = await client.resources(deployment_id)
        return {r.name: await client.resource_data(deployment_id, r.id) for r in resources}

    return call(camunda7.connection(), read)


class TestSources:
    """Each source kind reaches the engine byte for byte (inline: TestPush)."""

    def test_a_config_map_unit_reaches_the_engine_with_the_same_bytes(
        self, cluster: Cluster, operator: OperatorProcess, namespace: str, camunda7: RunningEngine
    ) -> None:
        add_engine(cluster, namespace, camunda7)
        key = "from_config_map_" + namespace.replace("-", "_")
        files = {"order.bpmn": user_task_process(key), "notes.txt": "ünïcode\r\n".encode()}
        data = "".join(f"\n  {name}: {json.dumps(c.decode())}" for name, c in files.items())
        cluster.apply(
            f"""
apiVersion: v1
kind: ConfigMap
metadata:
  name: processes
data:{data}
---
apiVersion: bpm.deployunits.io/v1alpha1
kind: DeploymentUnit
metadata:
  name: from-config-map
spec:
  deploymentId: {namespace}-from-config-map
  engineRef:
    name: camunda
  resources:
    configMaps:
      - name: processes
""",
            namespace,
        )
        unit = cluster.wait_condition("from-config-map", namespace, "EngineSynced", operator)
        assert engine_content(camunda7, unit["status"]["engine"]["deploymentId"]) == files
        [definition] = unit["status"]["definitions"]
        assert (definition["key"], definition["version"]) == (key, 1)

    def test_a_maven_kjar_unit_reaches_the_engine_with_the_same_bytes(
        self,
        cluster: Cluster,
        operator: OperatorProcess,
        namespace: str,
        camunda7: RunningEngine,
        maven_repo: MavenRepo,
    ) -> None:
        add_engine(cluster, namespace, camunda7)
        key = "from_kjar_" + namespace.replace("-", "_")
        entries = {"com/example/order.bpmn": user_task_process(key)}
        artifact = MavenCoordinates("com.example", namespace, "1.0.0")
        maven_repo.publish(artifact, build_kjar(entries, artifact_id=namespace))
        cluster.apply(
            f"""
apiVersion: bpm.deployunits.io/v1alpha1
kind: DeploymentUnit
metadata:
  name: from-kjar
spec:
  deploymentId: com.example:{namespace}:1.0.0
  engineRef:
    name: camunda
  resources:
    maven:
      groupId: com.example
      artifactId: {namespace}
      version: 1.0.0
      repository: {maven_repo.url}
""",
            namespace,
        )
        unit = cluster.wait_condition("from-kjar", namespace, "EngineSynced", operator)
        in_engine = engine_content(camunda7, unit["status"]["engine"]["deploymentId"])
        # The kjar's business resources, kmodule.xml among them, each as the jar holds it.
        assert in_engine == {**entries, "META-INF/kmodule.xml": KMODULE_XML}
        [definition] = unit["status"]["definitions"]
        assert (definition["key"], definition["version"]) == (key, 1)


class TestActivationTime:
    def test_definitions_wait_suspended_for_the_unit_s_activation_time(
        self, cluster: Cluster, operator: OperatorProcess, namespace: str, camunda7: RunningEngine
    ) -> None:
        ready_engine(cluster, namespace, camunda7, operator)
        key = "later_" + namespace.replace("-", "_")
        at = datetime.now(UTC) + timedelta(seconds=20)
        add_unit(
            cluster,
            namespace,
            "later",
            {"later.bpmn": user_task_process(key)},
            annotations={ACTIVATION_TIME_ANNOTATION: at.isoformat()},
        )
        unit = cluster.wait_condition("later", namespace, "EngineSynced", operator)
        deployment_id = unit["status"]["engine"]["deploymentId"]

        def suspended() -> bool:
            [definition] = call(
                camunda7.connection(), lambda c: c.process_definitions(deployment_id)
            )
            return definition.suspended

        assert suspended()
        assert datetime.now(UTC) < at, "the check above ran after the activation time"
        # The engine's job executor activates them once the time has come.
        wait_for(lambda: not suspended(), timeout=120, what="the definitions' activation")
        assert datetime.now(UTC) >= at

    def test_an_activation_time_that_is_no_time_fails_the_job_with_what_it_is(
        self, cluster: Cluster, operator: OperatorProcess, namespace: str, camunda7: RunningEngine
    ) -> None:
        add_engine(cluster, namespace, camunda7)
        add_unit(
            cluster,
            namespace,
            "when",
            {"when.bpmn": bpmn("when_" + namespace.replace("-", "_")).encode()},
            annotations={ACTIVATION_TIME_ANNOTATION: "next tuesday"},
        )
        unit = cluster.wait_condition("when", namespace, "Stalled", operator)
        assert unit["status"]["status"] == "DEPLOY_FAILED"
        assert "no ISO 8601 time: 'next tuesday'" in condition(unit, "Stalled")["message"]
        assert engine_deployments(camunda7, f"{namespace}-when") == []


class TestCredentials:
    def test_wrong_credentials_keep_units_waiting_until_fixed(
        self, cluster: Cluster, operator: OperatorProcess, namespace: str, camunda7: RunningEngine
    ) -> None:
        wrong = "not-the-password-" + namespace
        add_engine(cluster, namespace, camunda7, password=wrong, resync=5)
        cluster.wait_condition("camunda", namespace, "Stalled", operator, kind="pe")
        engine = cluster.get("pe", "camunda", namespace)
        ready = condition(engine, "Ready")
        assert ready["status"] == "False"
        assert "401" in ready["message"] and "credentials" in ready["message"]
        add_unit(cluster, namespace, "waits", {"waits.bpmn": bpmn("waits").encode()})
        status = eventually(cluster, "waits", namespace, reconciling)
        assert status["status"] == "DEPLOYING"
        for shown in (json.dumps(status), json.dumps(engine.get("status"))):
            assert wrong not in shown
            assert camunda7.credentials.password not in shown
        # Fixed: the engine is Ready and the unit reaches it (once).
        right = base64.b64encode(camunda7.credentials.password.encode()).decode()
        cluster.kubectl(
            "patch",
            "secret",
            "camunda-auth",
            "-n",
            namespace,
            "-p",
            json.dumps({"data": {"password": right}}),
        )
        cluster.wait_condition("camunda", namespace, "Ready", operator, kind="pe")
        cluster.wait_condition("waits", namespace, "EngineSynced", operator)
        assert len(engine_deployments(camunda7, f"{namespace}-waits")) == 1
        engine = cluster.get("pe", "camunda", namespace)
        assert engine["status"]["engineVersion"].startswith("7.")
        wait_for(
            lambda: cluster.get("pe", "camunda", namespace)["status"].get("deployments") == 1,
            timeout=30,
            what="the engine's synced units",
        )


class TestUndeploy:
    def test_running_instances_keep_the_deployment_until_the_policy_is_cascade(
        self, cluster: Cluster, operator: OperatorProcess, namespace: str, camunda7: RunningEngine
    ) -> None:
        add_engine(cluster, namespace, camunda7, resync=5)
        key = "waiting_" + namespace.replace("-", "_")
        add_unit(cluster, namespace, "busy", {"busy.bpmn": user_task_process(key)})
        unit = cluster.wait_condition("busy", namespace, "EngineSynced", operator)
        deployment_id = unit["status"]["engine"]["deploymentId"]
        call(camunda7.connection(), lambda client: client.start_process_instance(key))
        cluster.kubectl(
            "patch",
            "du",
            "busy",
            "-n",
            namespace,
            "--type=merge",
            "-p",
            '{"spec":{"state":"Undeployed"}}',
        )
        status = eventually(
            cluster, "busy", namespace, lambda s: s.get("status") == "UNDEPLOY_FAILED"
        )
        stalled = next(c for c in status["conditions"] if c["type"] == "Stalled")
        assert stalled["status"] == "True"
        assert "ENGINE-03076" in stalled["message"] or "running" in stalled["message"].lower()
        assert "Cascade" in stalled["message"]
        assert call(camunda7.connection(), lambda c: c.deployment(deployment_id)) is not None
        patch_engine(cluster, namespace, {"deletePolicy": "Cascade"})
        eventually(cluster, "busy", namespace, lambda s: s.get("status") == "UNDEPLOYED")
        assert call(camunda7.connection(), lambda c: c.deployment(deployment_id)) is None

    def test_deleting_a_unit_deletes_its_engine_deployment(
        self, cluster: Cluster, operator: OperatorProcess, namespace: str, camunda7: RunningEngine
    ) -> None:
        add_engine(cluster, namespace, camunda7)
        add_unit(cluster, namespace, "gone", {"gone.bpmn": bpmn("gone").encode()})
        unit = cluster.wait_condition("gone", namespace, "EngineSynced", operator)
        deployment_id = unit["status"]["engine"]["deploymentId"]
        cluster.kubectl("delete", "du", "gone", "-n", namespace, "--timeout=60s")
        assert call(camunda7.connection(), lambda c: c.deployment(deployment_id)) is None


class TestResync:
    def test_a_deployment_deleted_in_the_engine_is_restored_within_one_resync(
        self, cluster: Cluster, operator: OperatorProcess, namespace: str, camunda7: RunningEngine
    ) -> None:
        add_engine(cluster, namespace, camunda7, resync=5)
        add_unit(cluster, namespace, "drift", {"drift.bpmn": bpmn("drift").encode()})
        unit = cluster.wait_condition("drift", namespace, "EngineSynced", operator)
        old = unit["status"]["engine"]["deploymentId"]
        call(camunda7.connection(), lambda c: c.delete_deployment(old, cascade=True))
        started = time.monotonic()
        status = eventually(cluster, "drift", namespace, deployed_anew(old))
        assert time.monotonic() - started < 5 + 15
        new = status["engine"]["deploymentId"]
        assert call(camunda7.connection(), lambda c: c.deployment(new)) is not None
        assert len(engine_deployments(camunda7, f"{namespace}-drift")) == 1
        events = events_of(cluster, namespace, "reason=EngineDeploymentRestored")
        assert old in events

    def test_a_default_engine_created_later_receives_the_namespace_s_units(
        self, cluster: Cluster, operator: OperatorProcess, namespace: str, camunda7: RunningEngine
    ) -> None:
        add_unit(cluster, namespace, "early", {"early.bpmn": bpmn("early").encode()}, engine=None)
        cluster.wait_condition("early", namespace, "Ready", operator)
        add_engine(cluster, namespace, camunda7, default=True, resync=5)
        cluster.wait_condition("early", namespace, "EngineSynced", operator)
        assert len(engine_deployments(camunda7, f"{namespace}-early")) == 1
        events = events_of(
            cluster, namespace, "reason=PushedToDefaultEngine,involvedObject.name=early"
        )
        assert "the namespace's default engine" in events


class TestExactlyOnce:
    def test_a_push_recorded_nowhere_is_found_rather_than_repeated(
        self, cluster: Cluster, operator: OperatorProcess, namespace: str, camunda7: RunningEngine
    ) -> None:
        ready_engine(cluster, namespace, camunda7, operator)
        content = bpmn("once_" + namespace.replace("-", "_")).encode()
        operator.kill()
        try:
            add_unit(cluster, namespace, "once", {"once.bpmn": content})
            uid = cluster.get("du", "once", namespace)["metadata"]["uid"]
            # What an operator killed between the engine's answer and its own status write
            # leaves behind: the push (with its marker) in the engine, and nothing in the
            # unit's status.
            pushed = call(
                camunda7.connection(),
                lambda client: client.create_deployment(
                    NewDeployment(
                        name=f"{namespace}-once",
                        source=f"{PUSH_MARKER}{uid}",
                        resources=(NewResource(name="once.bpmn", content=content),),
                    )
                ),
            )
        finally:
            operator.start()
        unit = cluster.wait_condition("once", namespace, "EngineSynced", operator)
        assert unit["status"]["engine"]["deploymentId"] == pushed.id
        assert [d.id for d in engine_deployments(camunda7, f"{namespace}-once")] == [pushed.id]

    def test_an_operator_killed_during_pushes_leaves_no_duplicate(
        self, cluster: Cluster, operator: OperatorProcess, namespace: str, camunda7: RunningEngine
    ) -> None:
        ready_engine(cluster, namespace, camunda7, operator)
        names = [f"burst-{i}" for i in range(12)]
        for name in names:
            add_unit(
                cluster, namespace, name, {f"{name}.bpmn": bpmn(name.replace("-", "_")).encode()}
            )

        def some_pushed() -> bool:
            found = call(camunda7.connection(), lambda client: client.deployments())
            return any(str(d.name).startswith(f"{namespace}-burst") for d in found)

        wait_for(some_pushed, timeout=60, what="a first push")
        operator.kill()  # kill -9, wherever the pushes are
        operator.start()
        for name in names:
            cluster.wait_condition(name, namespace, "EngineSynced", operator)
            unit = cluster.get("du", name, namespace)
            found = engine_deployments(camunda7, f"{namespace}-{name}")
            assert [d.id for d in found] == [unit["status"]["engine"]["deploymentId"]], name


class TestEngineDeletion:
    def test_a_deleted_process_engine_waits_for_its_units_and_their_deployments_go_with_them(
        self, cluster: Cluster, operator: OperatorProcess, namespace: str, camunda7: RunningEngine
    ) -> None:
        add_engine(cluster, namespace, camunda7, resync=5)
        add_unit(cluster, namespace, "held", {"held.bpmn": bpmn("held").encode()})
        unit = cluster.wait_condition("held", namespace, "EngineSynced", operator)
        deployment_id = unit["status"]["engine"]["deploymentId"]
        wait_for(
            lambda: (
                "bpm.deployunits.io/finalizer"
                in (cluster.get("pe", "camunda", namespace)["metadata"].get("finalizers") or [])
            ),
            timeout=30,
            what="the ProcessEngine's finalizer",
        )
        cluster.kubectl("delete", "pe", "camunda", "-n", namespace, "--wait=false")

        def waiting() -> bool:
            engine = cluster.get("pe", "camunda", namespace)
            found = condition(engine, "Reconciling") or {}
            return found.get("reason") == "DeletionWaitsForUnits" and "held" in found["message"]

        wait_for(waiting, timeout=30, what="the deletion to wait for the unit")
        # Meanwhile its units stay in the engine, and no new unit is pushed to it.
        add_unit(cluster, namespace, "late", {"late.bpmn": bpmn("late").encode()})
        late = eventually(cluster, "late", namespace, reconciling)
        assert late["status"] == "DEPLOYING"
        assert engine_deployments(camunda7, f"{namespace}-late") == []
        assert call(camunda7.connection(), lambda c: c.deployment(deployment_id)) is not None
        # The unit's deletion takes its deployment out of the engine, and the engine's object
        # goes after it.
        cluster.kubectl("delete", "du", "held", "-n", namespace, "--timeout=60s")
        assert call(camunda7.connection(), lambda c: c.deployment(deployment_id)) is None
        wait_for(
            lambda: (
                cluster.kubectl("get", "pe", "camunda", "-n", namespace, check=False).returncode
                != 0
            ),
            timeout=30,
            what="the ProcessEngine to go",
        )


class TestEngineOutage:
    def test_an_engine_stopped_during_a_burst_of_50_units_ends_with_each_once(
        self, cluster: Cluster, operator: OperatorProcess, namespace: str, tmp_path: Path
    ) -> None:
        with camunda7_engine(tmp_path) as own:
            add_engine(cluster, namespace, own, resync=5)
            cluster.wait_condition("camunda", namespace, "Ready", operator, kind="pe")
            names = [f"burst-{i}" for i in range(50)]
            units = [
                bound_unit(namespace, n, {f"{n}.bpmn": bpmn(n.replace("-", "_")).encode()})
                for n in names
            ]
            cluster.apply_objects(namespace, *units)

            def pushed() -> list[Any]:
                return call(own.connection(), lambda client: client.deployments())

            wait_for(lambda: len(pushed()) > 0, timeout=60, what="a first push")
            # Stopped mid-burst; its in-memory database goes with it, so what was pushed
            # before the stop vanishes too, and the resync pushes it again.
            own.process.stop()
            time.sleep(3)
            own.process.start()

            def each_once() -> bool:
                by_name: dict[str, list[str]] = {}
                for deployment in pushed():
                    by_name.setdefault(str(deployment.name), []).append(deployment.id)
                for name in names:
                    status = status_of(cluster, name, namespace)
                    recorded = (status.get("engine") or {}).get("deploymentId")
                    if status.get("status") != "DEPLOYED" or recorded is None:
                        return False
                    if by_name.get(f"{namespace}-{name}") != [recorded]:
                        return False
                return True

            wait_for(each_once, timeout=240, what="all 50 units in the engine, each once")
            # And they stay so: nothing is pushed a second time afterwards.
            time.sleep(6)
            assert each_once()
            assert len(pushed()) == 50


@pytest.fixture(scope="module")
def empty_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEngine]:
    """An engine of its own: adoption imports every deployment no unit owns, and the session's
    engine holds those of every other test."""
    with camunda7_engine(tmp_path_factory.mktemp("empty-engine")) as engine:
        yield engine


class TestEdits:
    def test_a_superseded_deployment_stays_the_unit_s_until_the_unit_goes(
        self,
        cluster: Cluster,
        operator: OperatorProcess,
        namespace: str,
        empty_engine: RunningEngine,
    ) -> None:
        add_engine(cluster, namespace, empty_engine, resync=5)
        patch_engine(cluster, namespace, {"adoptExisting": True})
        key = "edited_" + namespace.replace("-", "_")
        add_unit(cluster, namespace, "edited", {"edited.bpmn": user_task_process(key)})
        first = cluster.wait_condition("edited", namespace, "EngineSynced", operator)
        first_id = first["status"]["engine"]["deploymentId"]
        # An edit is a new job: a new deployment in the engine, as Camunda's own redeploy.
        add_unit(cluster, namespace, "edited", {"edited.bpmn": bpmn(key).encode()})
        second = eventually(cluster, "edited", namespace, deployed_anew(first_id))
        second_id = second["engine"]["deploymentId"]
        assert [d["version"] for d in second["definitions"]] == [2]
        listed = call(empty_engine.connection(), lambda c: c.deployments())
        assert [d.id for d in listed] == [first_id, second_id]
        uid = first["metadata"]["uid"]
        assert {d.source for d in listed} == {f"{PUSH_MARKER}{uid}"}
        # The superseded deployment is the unit's: not unmanaged, never adopted (adoption
        # takes what two resyncs in a row find unmanaged; three resyncs pass here).
        wait_for(
            lambda: cluster.get("pe", "camunda", namespace)["status"].get("deployments") == 1,
            timeout=30,
            what="the engine's synced unit",
        )
        time.sleep(3 * 5 + 1)
        status = cluster.get("pe", "camunda", namespace)["status"]
        assert status["unmanagedDeployments"] == 0
        adopted = cluster.kubectl(
            "get", "du", "-n", namespace, "-l", "bpm.deployunits.io/adopted", "-o", "name"
        ).stdout
        assert adopted.strip() == ""
        # The unit's deletion takes every deployment it pushed out of the engine.
        cluster.kubectl("delete", "du", "edited", "-n", namespace, "--timeout=60s")
        assert call(empty_engine.connection(), lambda c: c.deployments()) == []


class TestAdoption:
    def test_a_deployment_no_unit_owns_is_imported_once_as_a_unit(
        self,
        cluster: Cluster,
        operator: OperatorProcess,
        namespace: str,
        empty_engine: RunningEngine,
    ) -> None:
        content = user_task_process("legacy")
        before = call(
            empty_engine.connection(),
            lambda client: client.create_deployment(
                NewDeployment(
                    name="legacy",
                    source="before-deployunits",
                    resources=(NewResource(name="legacy.bpmn", content=content),),
                )
            ),
        )
        add_engine(cluster, namespace, empty_engine, resync=5)
        patch_engine(cluster, namespace, {"adoptExisting": True})
        name = f"adopted-{before.id}"
        wait_for(
            lambda: (
                cluster.kubectl("get", "du", name, "-n", namespace, check=False).returncode == 0
            ),
            timeout=60,
            what="the adopted unit",
        )
        unit = cluster.wait_condition(name, namespace, "EngineSynced", operator)
        assert unit["metadata"]["labels"]["bpm.deployunits.io/adopted"] == "camunda"
        assert unit["spec"]["name"] == "legacy"
        assert unit["spec"]["source"] == "before-deployunits"
        status = unit["status"]
        assert status["engine"]["deploymentId"] == before.id
        [resource] = status["resources"]
        assert resource["name"] == "legacy.bpmn"
        assert resource["sha256"] == hashlib.sha256(content).hexdigest()
        [definition] = status["definitions"]
        assert (definition["key"], definition["version"]) == ("legacy", 1)
        # Imported, not deployed again: the engine holds the one deployment it had.
        assert [d.id for d in call(empty_engine.connection(), lambda c: c.deployments())] == [
            before.id
        ]
        wait_for(
            lambda: (
                cluster.get("pe", "camunda", namespace)["status"].get("unmanagedDeployments") == 0
            ),
            timeout=30,
            what="no unmanaged deployment left",
        )
        # Edited, it is pushed anew; what it was adopted from stays its own (never unmanaged),
        # and its deletion takes both out of the engine.
        edited = json.dumps(
            {
                "spec": {
                    "resources": {
                        "snapshots": None,
                        "inline": [{"name": "legacy.bpmn", "content": bpmn("legacy")}],
                    }
                }
            }
        )
        cluster.kubectl("patch", "du", name, "-n", namespace, "--type=merge", "-p", edited)
        eventually(
            cluster,
            name,
            namespace,
            lambda s: (s.get("engine") or {}).get("deploymentId") not in (None, before.id),
        )
        assert len(call(empty_engine.connection(), lambda c: c.deployments())) == 2
        time.sleep(2 * 5 + 1)
        assert cluster.get("pe", "camunda", namespace)["status"]["unmanagedDeployments"] == 0
        cluster.kubectl("delete", "du", name, "-n", namespace, "--timeout=60s")
        assert call(empty_engine.connection(), lambda c: c.deployments()) == []
