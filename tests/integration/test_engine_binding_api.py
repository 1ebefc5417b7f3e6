"""What the API server itself enforces on ProcessEngines and on a unit's engineRef (no operator).

Matrix: a ProcessEngine with only a URL gets the documented defaults and shows in `kubectl get
bpm`; a URL carrying credentials and a CA bundle from two places are refused; a unit's engineRef
can be set and changed until the unit has been deployed, and neither changed nor removed after.
"""

import json

import pytest

from tests.support.cluster import Cluster

ENGINE = """
apiVersion: bpm.deployunits.io/v1alpha1
kind: ProcessEngine
metadata:
  name: {name}
spec:
  camunda7:
    url: {url}
{extra}
"""
UNIT = """
apiVersion: bpm.deployunits.io/v1alpha1
kind: DeploymentUnit
metadata:
  name: bound
spec:
  deploymentId: bound
  engineRef: {name: first}
  resources:
    inline:
      - name: hello.bpmn
        content: "<definitions/>"
"""


def engine(name: str, url: str = "http://camunda:8080/engine-rest", extra: str = "") -> str:
    return ENGINE.format(name=name, url=url, extra=extra)


def test_an_engine_with_only_a_url_gets_the_defaults(cluster: Cluster, namespace: str) -> None:
    cluster.apply(engine("plain"), namespace)
    spec = cluster.get("processengines", "plain", namespace)["spec"]
    assert spec == {
        "camunda7": {"url": "http://camunda:8080/engine-rest"},
        "deletePolicy": "KeepInstances",
        "resyncSeconds": 60,
        "adoptExisting": False,
    }
    listed = cluster.kubectl("get", "bpm", "-n", namespace).stdout
    assert "processengine.bpm.deployunits.io/plain" in listed


@pytest.mark.parametrize(
    ("url", "extra", "message"),
    [
        ("http://user:secret@camunda:8080/engine-rest", "", "should match"),
        ("ftp://camunda/engine-rest", "", "should match"),
        (
            "https://camunda/engine-rest",
            "    caBundle: {secretKeyRef: {name: a}, configMapKeyRef: {name: b}}",
            "set exactly one of secretKeyRef and configMapKeyRef",
        ),
        ("http://camunda/engine-rest", "  deletePolicy: Sometimes", "Unsupported value"),
        ("http://camunda/engine-rest", "    engineName: ..", "should match"),
    ],
)
def test_bad_engines_are_refused(
    cluster: Cluster, namespace: str, url: str, extra: str, message: str
) -> None:
    result = cluster.kubectl(
        "apply", "-n", namespace, "-f", "-", input=engine("bad", url, extra), check=False
    )
    assert result.returncode != 0
    assert message in result.stderr


def _patch(cluster: Cluster, namespace: str, body: object, *extra: str) -> str:
    result = cluster.kubectl(
        "patch",
        "du",
        "bound",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        json.dumps(body),
        *extra,
        check=False,
    )
    return result.stderr if result.returncode != 0 else ""


def test_engine_ref_is_fixed_once_the_unit_has_been_deployed(
    cluster: Cluster, namespace: str
) -> None:
    cluster.apply(UNIT, namespace)
    assert _patch(cluster, namespace, {"spec": {"engineRef": {"name": "second"}}}) == ""
    deployed = {"status": {"deploymentTime": "2026-01-01T00:00:00Z"}}
    assert _patch(cluster, namespace, deployed, "--subresource=status") == ""

    refused = "spec.engineRef cannot change once the unit has been deployed"
    assert refused in _patch(cluster, namespace, {"spec": {"engineRef": {"name": "third"}}})
    assert refused in _patch(cluster, namespace, {"spec": {"engineRef": None}})
    # Other changes, and the operator's status writes, still go through.
    assert _patch(cluster, namespace, {"spec": {"state": "Undeployed"}}) == ""
    assert (
        _patch(cluster, namespace, {"status": {"status": "UNDEPLOYED"}}, "--subresource=status")
        == ""
    )
    assert cluster.get("du", "bound", namespace)["spec"]["engineRef"] == {"name": "second"}


def test_a_unit_deployed_without_an_engine_cannot_gain_one(
    cluster: Cluster, namespace: str
) -> None:
    cluster.apply(UNIT.replace("  engineRef: {name: first}\n", ""), namespace)
    deployed = {"status": {"deploymentTime": "2026-01-01T00:00:00Z"}}
    assert _patch(cluster, namespace, deployed, "--subresource=status") == ""
    refused = _patch(cluster, namespace, {"spec": {"engineRef": {"name": "late"}}})
    assert "spec.engineRef cannot change once the unit has been deployed" in refused
