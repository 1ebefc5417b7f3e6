"""The operator reconciles DeploymentUnits into status: resources, conditions, generation.

Matrix: inline unit Ready via `kubectl wait`; ConfigMap unit (data and binaryData, all keys and
selected keys); a unit waiting for its ConfigMap, then Ready; a ConfigMap of an invalid model,
Stalled with each problem's line and column; undeploy; kstatus fields; units selected by job
status and deployment id (field selectors).
"""

import base64
import hashlib
import json
from pathlib import Path

import pytest

from devcluster.processes import OperatorProcess, wait_for
from tests.support.cluster import Cluster, condition
from tests.support.models import bpmn, dmn
from tests.support.units import config_map, deployment_unit

pytestmark = pytest.mark.usefixtures("operator")

BPMN = bpmn("hello")
DMN = dmn("approve")


def test_inline_unit_becomes_ready_with_its_resources(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    cluster.apply_objects(
        namespace,
        deployment_unit(
            "hello", deployment_id="org.example:hello:1.0.0", inline={"hello.bpmn": BPMN}
        ),
    )
    cluster.wait_condition("hello", namespace, "Ready", operator)
    unit = cluster.get("du", "hello", namespace)
    status = unit["status"]
    assert status["observedGeneration"] == unit["metadata"]["generation"]
    assert status["status"] == "DEPLOYED"
    assert status["deploymentTime"]
    [resource] = status["resources"]
    assert resource["name"] == "hello.bpmn"
    assert resource["sha256"] == hashlib.sha256(BPMN.encode()).hexdigest()
    assert resource["size"] == len(BPMN.encode())
    assert resource["id"]
    assert status["job"]["operation"] == "DEPLOY"
    assert status["job"]["success"] is True
    for type_, expected in [
        ("Ready", "True"),
        ("Deployed", "True"),
        ("Reconciling", "False"),
        ("Stalled", "False"),
    ]:
        found = condition(unit, type_)
        assert found is not None, type_
        assert found["status"] == expected, found
        assert found["reason"]
        assert found["lastTransitionTime"]
        assert found["observedGeneration"] == unit["metadata"]["generation"]
    # The operator's bookkeeping uses the project's prefix, never kopf.zalando.org.
    annotations = unit["metadata"].get("annotations", {})
    assert not any(key.startswith("kopf.zalando.org") for key in annotations)
    assert unit["metadata"]["finalizers"] == ["bpm.deployunits.io/finalizer"]


def test_config_map_unit_takes_data_and_binary_data(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    form = bytes(range(256))
    cluster.apply_objects(
        namespace,
        config_map(
            "processes",
            {"hello.bpmn": BPMN, "readme.txt": "not a process"},
            {"form.bin": base64.b64encode(form).decode()},
        ),
        deployment_unit("whole", config_maps=["processes"]),
        deployment_unit(
            "picked", config_maps=[{"name": "processes", "keys": ["hello.bpmn", "form.bin"]}]
        ),
    )
    cluster.wait_condition("whole", namespace, "Ready", operator)
    cluster.wait_condition("picked", namespace, "Ready", operator)
    whole = {r["name"]: r for r in cluster.get("du", "whole", namespace)["status"]["resources"]}
    assert sorted(whole) == ["form.bin", "hello.bpmn", "readme.txt"]
    assert whole["form.bin"]["sha256"] == hashlib.sha256(form).hexdigest()
    assert whole["form.bin"]["size"] == 256
    picked = cluster.get("du", "picked", namespace)["status"]["resources"]
    assert sorted(r["name"] for r in picked) == ["form.bin", "hello.bpmn"]


def test_unit_waits_for_its_config_map_then_becomes_ready(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    cluster.apply_objects(namespace, deployment_unit("early", config_maps=["later"]))

    def reconciling() -> bool:
        found = condition(cluster.get("du", "early", namespace), "Reconciling")
        return found is not None and found["status"] == "True"

    wait_for(reconciling, 30, f"Reconciling=True; operator log:\n{operator.tail()}")
    unit = cluster.get("du", "early", namespace)
    ready = condition(unit, "Ready")
    assert ready is not None
    assert ready["status"] == "False"
    assert "ConfigMap 'later' not found" in ready["message"]
    cluster.kubectl(
        "create", "configmap", "later", "-n", namespace, f"--from-literal=a.bpmn={BPMN}"
    )
    cluster.wait_condition("early", namespace, "Ready", operator)


def test_an_invalid_model_stalls_the_unit_with_each_problems_line_and_column(
    cluster: Cluster, operator: OperatorProcess, namespace: str, tmp_path: Path
) -> None:
    # The GitOps path: a ConfigMap of a BPMN Camunda refuses (an element in the wrong place,
    # a sequence flow to a missing element).
    broken = tmp_path / "broken.bpmn"
    broken.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" '
        'targetNamespace="urn:x">\n'
        '  <process id="broken" isExecutable="true">\n'
        '    <startEvent id="start"><bogus/></startEvent>\n'
        '    <sequenceFlow id="f1" sourceRef="start" targetRef="missing"/>\n'
        "  </process>\n"
        "</definitions>\n"
    )
    cluster.kubectl("create", "configmap", "broken", "-n", namespace, f"--from-file={broken}")
    unit = cluster.apply_and_wait(
        namespace, deployment_unit("broken", config_maps=["broken"]), "Stalled", operator
    )
    assert unit["status"]["status"] == "DEPLOY_FAILED"
    stalled = condition(unit, "Stalled")
    assert stalled is not None
    assert stalled["reason"] == "InvalidContent"
    message = stalled["message"]
    assert "resource 'broken.bpmn' line 4, column 36: Element" in message
    assert "resource 'broken.bpmn' line 7, column 15: cvc-id.1: There is no ID/IDREF" in message
    assert (
        "resource 'broken.bpmn' line 5, column 66: Invalid destination 'missing' of sequence "
        "flow 'f1'"
    ) in message
    assert "definitions" not in unit["status"] or not unit["status"]["definitions"]


def test_undeploy_reaches_undeployed_and_stays_ready(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    cluster.apply_and_wait(
        namespace, deployment_unit("goes", inline={"a.dmn": DMN}), "Ready", operator
    )
    cluster.kubectl(
        "patch",
        "du",
        "goes",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        '{"spec":{"state":"Undeployed"}}',
    )

    def undeployed() -> bool:
        unit = cluster.get("du", "goes", namespace)
        status = unit.get("status", {})
        return bool(
            status.get("observedGeneration") == unit["metadata"]["generation"]
            and status.get("status") == "UNDEPLOYED"
        )

    wait_for(undeployed, 30, f"UNDEPLOYED; operator log:\n{operator.tail()}")
    unit = cluster.get("du", "goes", namespace)
    assert unit["status"]["job"]["operation"] == "UNDEPLOY"
    deployed = condition(unit, "Deployed")
    assert deployed is not None
    assert deployed["status"] == "False"


INLINE_UNIT = deployment_unit("guarded", deployment_id="guarded", inline={"hello.bpmn": BPMN})


def test_the_admission_policy_puts_the_finalizer_on_at_creation(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    created = json.loads(
        cluster.kubectl(
            "create", "-n", namespace, "-o", "json", "-f", "-", input=json.dumps(INLINE_UNIT)
        ).stdout
    )
    # The create's own answer carries it: no operator write was needed for it.
    assert created["metadata"]["finalizers"] == ["bpm.deployunits.io/finalizer"]
    assert created["metadata"]["resourceVersion"]
    cluster.wait_condition("guarded", namespace, "Ready", operator)


def test_the_operator_puts_back_a_finalizer_the_policy_did_not_set(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    # A cluster without manifests/admission: the unit arrives without the finalizer.
    cluster.apply_and_wait(namespace, INLINE_UNIT, "Ready", operator)
    cluster.kubectl(
        "patch", "du", "guarded", "-n", namespace, "--type=json",
        "-p", '[{"op": "remove", "path": "/metadata/finalizers"}]',
    )  # fmt: skip
    wait_for(
        lambda: (
            cluster.get("du", "guarded", namespace)["metadata"].get("finalizers")
            == ["bpm.deployunits.io/finalizer"]
        ),
        30,
        f"the finalizer back on the unit; operator log:\n{operator.tail()}",
    )


def test_units_can_be_selected_by_job_status_and_deployment_id(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    for name, content in (("good", BPMN), ("broken", "<bpmn:definitions")):
        cluster.apply_objects(namespace, deployment_unit(name, inline={f"{name}.bpmn": content}))
    cluster.wait_condition("good", namespace, "Ready", operator)
    wait_for(
        lambda: (
            cluster.get("du", "broken", namespace).get("status", {}).get("status")
            == "DEPLOY_FAILED"
        ),
        60,
        "the broken unit to fail",
    )

    def selected(selector: str) -> list[str]:
        listed = cluster.kubectl(
            "get", "du", "-n", namespace, f"--field-selector={selector}", "-o", "name"
        )
        return sorted(listed.stdout.split())

    assert selected("status.status=DEPLOY_FAILED") == ["deploymentunit.bpm.deployunits.io/broken"]
    assert selected("status.status=DEPLOYED") == ["deploymentunit.bpm.deployunits.io/good"]
    assert selected("spec.deploymentId=good-1") == ["deploymentunit.bpm.deployunits.io/good"]
