"""What the project stores in a namespace, and waiting until none of it is left behind."""

from __future__ import annotations

import time

from deployunits import constants
from tests.support.cluster import Cluster


def stored_objects(cluster: Cluster, namespace: str) -> list[str]:
    """Units, snapshots and snapshot parts in the namespace."""
    found = cluster.kubectl("get", "du", "-n", namespace, "-o", "name").stdout.split()
    for label in (constants.SNAPSHOT_LABEL, constants.SNAPSHOT_PART_LABEL):
        found += cluster.kubectl(
            "get", "cm", "-n", namespace, f"-l{label}", "-o", "name"
        ).stdout.split()
    return found


def assert_nothing_stored(cluster: Cluster, namespace: str, timeout: float = 30) -> None:
    """Within `timeout` seconds, nothing of the project's is left in the namespace."""
    deadline = time.monotonic() + timeout
    while stored_objects(cluster, namespace):
        assert time.monotonic() < deadline, f"left behind: {stored_objects(cluster, namespace)}"
        time.sleep(0.2)
