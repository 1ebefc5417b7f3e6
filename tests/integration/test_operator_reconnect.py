"""The operator after a long outage of the API server: back at work within 10 seconds.

On a control plane of its own (the session's must not go down), kube-apiserver and etcd stay
down for half a minute. kopf retries a failed watch request with growing pauses (by default up
to 21 s apart), so without a cap the operator would come back long after the API server does.
Matrix: a unit created once the API server is ready again is reconciled within 10 seconds.
"""

import json
import time
from pathlib import Path

import pytest

from devcluster import binaries
from devcluster.plane import ControlPlane
from devcluster.processes import OperatorProcess, wait_for
from tests.support.cluster import Cluster

OUTAGE_SECONDS = 30.0
#: The fault drills' threshold for reconnecting after the API server is back.
RECONNECT_LIMIT = 10.0


def unit(name: str) -> str:
    bpmn = (
        '<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" '
        f'targetNamespace="urn:t"><process id="{name}" isExecutable="true"/></definitions>'
    )
    return json.dumps(
        {
            "apiVersion": "bpm.deployunits.io/v1alpha1",
            "kind": "DeploymentUnit",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {
                "deploymentId": name,
                "resources": {"inline": [{"name": f"{name}.bpmn", "content": bpmn}]},
            },
        }
    )


def deployed(cluster: Cluster, name: str) -> bool:
    found = cluster.kubectl(
        "get", "du", name, "-o", "jsonpath={.status.status}", "--request-timeout=5s", check=False
    )
    return found.stdout == "DEPLOYED"


@pytest.mark.timeout(300)
def test_the_operator_reconciles_within_10_seconds_after_a_long_outage(tmp_path: Path) -> None:
    with ControlPlane(binaries.ensure_built(), with_controller_manager=False) as plane:
        cluster = Cluster(plane.kubeconfig, None, plane=plane)
        cluster.install_crds()
        operator = OperatorProcess(plane.kubeconfig, tmp_path / "operator.log")
        operator.start()
        try:
            cluster.kubectl("create", "-f", "-", input=unit("before"))
            wait_for(lambda: deployed(cluster, "before"), 60, "the first unit")

            plane.stop_api_server()
            plane.stop_etcd()
            time.sleep(OUTAGE_SECONDS)
            plane.start_etcd()
            plane.start_api_server()
            ready = time.monotonic()

            # A restarted API server is ready before it serves the CRDs again (503 "Resource kind
            # ... not found"): a client retries, as kubectl users would.
            def created() -> bool:
                result = cluster.kubectl("create", "-f", "-", input=unit("after"), check=False)
                return result.returncode == 0 or "AlreadyExists" in result.stderr

            wait_for(created, 30, "the API server to accept a unit again")
            wait_for(
                lambda: deployed(cluster, "after"),
                60,
                f"the unit created after the outage; log:\n{operator.tail()}",
            )
            seconds = time.monotonic() - ready
            assert seconds <= RECONNECT_LIMIT, f"reconciled {seconds:.1f}s after the restart"
        finally:
            operator.stop()
