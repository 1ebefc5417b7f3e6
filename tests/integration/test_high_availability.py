"""Two operator replicas in kopf peering: one works, the other waits and takes over.

The manifests' HA component (manifests/ha) installs the peering CRDs and the ClusterKopfPeering;
the replicas run with --peering and pick random priorities.
"""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devcluster.processes import OperatorProcess, wait_for
from tests.support.cluster import REPO, Cluster
from tests.support.models import bpmn


def unit(name: str) -> str:
    return json.dumps(
        {
            "apiVersion": "bpm.deployunits.io/v1alpha1",
            "kind": "DeploymentUnit",
            "metadata": {"name": name},
            "spec": {
                "deploymentId": name,
                "resources": {
                    "inline": [{"name": "p.bpmn", "content": bpmn(name.replace("-", ""))}]
                },
            },
        }
    )


@pytest.fixture
def peers(
    cluster: Cluster, operator: OperatorProcess, tmp_path: Path
) -> Iterator[list[OperatorProcess]]:
    # The session operator runs standalone; it steps aside while the peers are tested.
    operator.stop()
    ha = REPO / "manifests" / "ha"
    cluster.kubectl("apply", "-f", str(ha / "peering-crds.yaml"))
    cluster.kubectl(
        "wait", "--for=condition=Established", "--timeout=60s", "-f", str(ha / "peering-crds.yaml")
    )
    cluster.kubectl("api-resources")
    cluster.kubectl("apply", "-f", str(ha / "peering.yaml"))
    replicas = [
        OperatorProcess(
            cluster.kubeconfig,
            tmp_path / f"replica-{i}.log",
            env={"DEPLOYUNITS_PEERING_LIFETIME": "5"},
            args=["--peering"],
        )
        for i in range(2)
    ]
    try:
        for replica in replicas:
            replica.start()
        yield replicas
    finally:
        for replica in replicas:
            replica.stop()
        operator.start()


def test_one_replica_works_and_the_other_takes_over(
    cluster: Cluster, namespace: str, peers: list[OperatorProcess]
) -> None:
    # Each replica's heartbeat in the peering carries its priority; its identity ends in its
    # pid (the operator sets POD_ID to host-pid). The highest priority works.
    peering: dict[str, Any] = {}

    def both_listed() -> bool:
        peering.update(cluster.get("clusterkopfpeering", "deployunits", namespace))
        return len(peering.get("status") or {}) >= 2

    wait_for(both_listed, 60, "both replicas in the peering")
    priorities = {
        int(identity.rsplit("-", 1)[-1]): info["priority"]
        for identity, info in peering["status"].items()
    }
    active = max(peers, key=lambda replica: priorities[replica.popen.pid])  # type: ignore[union-attr]
    waiting = next(replica for replica in peers if replica is not active)
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=unit("first-unit"))
    cluster.kubectl(
        "wait", "--for=condition=Ready", "--timeout=60s", "du/first-unit", "-n", namespace
    )

    active.kill()
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=unit("second-unit"))
    cluster.kubectl(
        "wait", "--for=condition=Ready", "--timeout=90s", "du/second-unit", "-n", namespace
    )
    assert "Resuming operations" in waiting.tail(2000)
