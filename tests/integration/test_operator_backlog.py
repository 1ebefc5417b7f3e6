"""A burst larger than the operator's in-memory backlog: the overflow is read again later.

With one pass at a time and room for two waiting objects, twenty units created at once mostly
overflow; each still becomes Ready, exactly once deployed, with versions 1..20 of one key.
"""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from devcluster.processes import OperatorProcess, wait_for
from tests.support.cluster import Cluster, condition
from tests.support.models import bpmn

UNITS = 20


@pytest.fixture
def small_operator(
    cluster: Cluster, operator: OperatorProcess, namespace: str, tmp_path: Path
) -> Iterator[OperatorProcess]:
    """An operator for this namespace only, with a tiny pass backlog; the session operator
    watches every namespace, so it stands down meanwhile."""
    operator.stop()
    small = OperatorProcess(
        cluster.kubeconfig,
        tmp_path / "operator.log",
        env={
            "DEPLOYUNITS_NAMESPACES": json.dumps([namespace]),
            "DEPLOYUNITS_MAX_CONCURRENT_RECONCILES": "1",
            "DEPLOYUNITS_MAX_WAITING_RECONCILES": "2",
        },
    )
    small.start()
    try:
        yield small
    finally:
        small.stop()
        operator.start()


def test_units_beyond_the_backlog_are_deployed_once_from_a_fresh_read(
    cluster: Cluster, small_operator: OperatorProcess, namespace: str
) -> None:
    content = bpmn("burst").replace("'", "''")
    manifests = "\n---\n".join(
        f"""
apiVersion: bpm.deployunits.io/v1alpha1
kind: DeploymentUnit
metadata:
  name: burst-{index}
spec:
  deploymentId: burst-{index}
  resources:
    inline:
      - name: burst.bpmn
        content: '{content}'
"""
        for index in range(UNITS)
    )
    cluster.apply(manifests, namespace)

    def all_ready() -> bool:
        items = json.loads(cluster.kubectl("get", "du", "-n", namespace, "-o", "json").stdout)
        ready = [u for u in items["items"] if (condition(u, "Ready") or {}).get("status") == "True"]
        return len(ready) == UNITS

    wait_for(all_ready, 120, f"{UNITS} units Ready; operator log:\n{small_operator.tail()}")
    items = json.loads(cluster.kubectl("get", "du", "-n", namespace, "-o", "json").stdout)["items"]
    versions = sorted(u["status"]["definitions"][0]["version"] for u in items)
    assert versions == list(range(1, UNITS + 1))
    assert all(u["status"]["job"]["success"] for u in items)
    assert "Traceback" not in small_operator.tail(2000)
