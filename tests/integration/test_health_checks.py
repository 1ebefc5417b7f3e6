"""GitOps health of objects the operator really wrote: Argo CD's Lua, kstatus and Flux's CEL.

The running operator reconciles units into each state; `kubectl get -o json` output goes
straight into the Argo CD health check (health.lua in a real Lua runtime), the kstatus rules
and the Flux healthCheckExprs. Matrix:
- a good inline unit: Ready → Healthy / Current / Current;
- a unit with two resources of the same name: Stalled, DEPLOY_FAILED → Degraded with the
  operator's message / Failed / Failed;
- a unit waiting for its ConfigMap: Reconciling → Progressing / InProgress / InProgress, then
  Healthy once the ConfigMap exists;
- an undeployed unit: Ready (desired state reached) → Healthy / Current / Current;
- the server's answer to a spec change the operator has not seen yet (a dry-run patch: new
  generation, old status) → Progressing / InProgress / InProgress;
- the server's answer to a delete while the operator's finalizer holds the unit (a dry-run
  delete: deletionTimestamp set) → Progressing / Terminating / InProgress.
- a Redeploy that created its unit: Succeeded → Healthy / Current / Current;
- a Redeploy of a deployment that does not exist: Stalled → Degraded with the operator's
  message / Failed / Failed.
"""

import json
from typing import Any

import pytest

from deployunits import constants
from devcluster.processes import OperatorProcess
from tests.support.cluster import Cluster
from tests.support.health import KStatus, argocd_health, flux_health, kstatus
from tests.support.units import deployment_unit, redeploy

pytestmark = pytest.mark.usefixtures("operator")

BPMN = (
    '<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" '
    'targetNamespace="urn:t"><process id="p" isExecutable="true"/></definitions>'
)


INLINE = {"p.bpmn": BPMN}
TWICE = [("p.bpmn", BPMN), ("p.bpmn", BPMN)]


def assess(obj: dict[str, Any]) -> tuple[str, KStatus, KStatus]:
    """(Argo CD status, kstatus, Flux status) of one object."""
    return argocd_health(obj).status, kstatus(obj)[0], flux_health(obj)


def test_ready_unit_is_healthy(cluster: Cluster, operator: OperatorProcess, namespace: str) -> None:
    found = cluster.apply_and_wait(
        namespace, deployment_unit("good", inline=INLINE), "Ready", operator
    )
    assert assess(found) == ("Healthy", KStatus.CURRENT, KStatus.CURRENT)


def test_failed_unit_is_degraded_with_the_operators_message(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    found = cluster.apply_and_wait(
        namespace, deployment_unit("twice", inline=TWICE), "Stalled", operator
    )
    assert found["status"]["status"] == "DEPLOY_FAILED"
    assert assess(found) == ("Degraded", KStatus.FAILED, KStatus.FAILED)
    stalled = next(c for c in found["status"]["conditions"] if c["type"] == "Stalled")
    assert argocd_health(found).message == stalled["message"]
    assert "p.bpmn" in stalled["message"]


def test_unit_waiting_for_content_is_progressing_then_healthy(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    found = cluster.apply_and_wait(
        namespace, deployment_unit("waiting", config_maps=["later"]), "Reconciling", operator
    )
    assert assess(found) == ("Progressing", KStatus.IN_PROGRESS, KStatus.IN_PROGRESS)
    assert "later" in argocd_health(found).message
    cluster.kubectl(
        "create", "configmap", "later", "-n", namespace, f"--from-literal=p.bpmn={BPMN}"
    )
    found = cluster.wait_condition("waiting", namespace, "Ready", operator)
    assert assess(found) == ("Healthy", KStatus.CURRENT, KStatus.CURRENT)


def test_undeployed_unit_is_healthy(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    found = cluster.apply_and_wait(
        namespace, deployment_unit("resting", inline=INLINE, state="Undeployed"), "Ready", operator
    )
    assert found["status"]["status"] == "UNDEPLOYED"
    assert assess(found) == ("Healthy", KStatus.CURRENT, KStatus.CURRENT)


def test_unobserved_spec_change_is_progressing(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    cluster.apply_and_wait(namespace, deployment_unit("changing", inline=INLINE), "Ready", operator)
    # The server's own answer to a spec change, before any operator could act on it.
    answer = cluster.kubectl(
        "patch",
        "du",
        "changing",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        '{"spec": {"state": "Undeployed"}}',
        "--dry-run=server",
        "-o",
        "json",
    ).stdout
    changed = json.loads(answer)
    assert changed["metadata"]["generation"] == changed["status"]["observedGeneration"] + 1
    assert assess(changed) == ("Progressing", KStatus.IN_PROGRESS, KStatus.IN_PROGRESS)
    assert "generation" in argocd_health(changed).message


def test_unit_being_deleted_is_progressing(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    found = cluster.apply_and_wait(
        namespace, deployment_unit("leaving", inline=INLINE), "Ready", operator
    )
    assert constants.FINALIZER in found["metadata"].get("finalizers", [])
    # With a finalizer, a (dry-run) delete answers with the object marked for deletion.
    path = (
        f"/apis/{constants.API_VERSION}/namespaces/{namespace}/"
        f"{constants.DEPLOYMENT_UNIT_PLURAL}/leaving?dryRun=All"
    )
    leaving = json.loads(cluster.kubectl("delete", "--raw", path).stdout)
    assert leaving["metadata"]["deletionTimestamp"]
    assert assess(leaving) == ("Progressing", KStatus.TERMINATING, KStatus.IN_PROGRESS)


def test_succeeded_redeploy_is_healthy(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    cluster.apply_and_wait(namespace, deployment_unit("source", inline=INLINE), "Ready", operator)
    found = cluster.apply_and_wait(
        namespace, redeploy("again", "source-1", resourceNames=["p.bpmn"]), "Succeeded", operator
    )
    assert assess(found) == ("Healthy", KStatus.CURRENT, KStatus.CURRENT)


def test_refused_redeploy_is_degraded(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    cluster.apply_objects(
        namespace, redeploy("nowhere", "no-such-deployment", resourceNames=["p.bpmn"])
    )
    found = cluster.wait_condition("nowhere", namespace, "Stalled", operator, kind="redeploy")
    assert assess(found) == ("Degraded", KStatus.FAILED, KStatus.FAILED)
    stalled = next(c for c in found["status"]["conditions"] if c["type"] == "Stalled")
    assert argocd_health(found).message == stalled["message"]
