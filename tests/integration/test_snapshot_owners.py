"""Units that share a content join its snapshot together: every one an owner, in a few writes.

Against the real API server: 40 units join one existing snapshot at once. Each alone (the
unbatched path) is one successful write per unit, after conflicts; through `SnapshotOwners`
they share a write per round. No owner is lost either way. The writes are counted as the
ConfigMap's MODIFIED events on a watch.
"""

import asyncio
from typing import Any

from deployunits.content.digest import sha256_hex
from deployunits.k8s.connection import Connection
from deployunits.k8s.raw import KubeClient, core_path, custom_path
from deployunits.k8s.snapshots import SnapshotStore
from tests.support.cluster import Cluster
from tests.support.models import bpmn

UNITS = 40


async def join_at_once(
    cluster: Cluster, namespace: str, content: str, batched: bool
) -> tuple[int, dict[str, Any]]:
    """(writes of the snapshot while 40 units join it, the snapshot afterwards)."""
    kube = KubeClient(Connection.load(str(cluster.kubeconfig)))
    try:
        units = [
            await kube.create(
                custom_path("deploymentunits", namespace),
                {
                    "apiVersion": "bpm.deployunits.io/v1alpha1",
                    "kind": "DeploymentUnit",
                    "metadata": {"name": f"{'b' if batched else 'u'}{i}"},
                    # Undeployed: the session's operator stores no snapshot for them itself.
                    "spec": {
                        "deploymentId": f"shared-{batched}-{i}",
                        "state": "Undeployed",
                        "resources": {"inline": [{"name": "a.bpmn", "content": content}]},
                    },
                },
            )
            for i in range(UNITS + 1)
        ]
        data = content.encode()
        sha = sha256_hex(data)
        store = SnapshotStore(kube)
        name, _ = await store.ensure(namespace, sha, data, units[0])
        path = core_path("configmaps", namespace)
        created = await kube.get(f"{path}/{name}")
        writes = 0

        async def count_writes() -> None:
            nonlocal writes
            params = {"fieldSelector": f"metadata.name={name}"}
            version = created["metadata"]["resourceVersion"]
            async for event in kube.watch(path, resource_version=version, params=params):
                if event["type"] == "MODIFIED":
                    writes += 1

        watching = asyncio.create_task(count_writes())
        await asyncio.gather(
            *(store.ensure(namespace, sha, data, unit, grouped=batched) for unit in units[1:])
        )
        await asyncio.sleep(1)  # the watch delivers the last write
        watching.cancel()
        return writes, await kube.get(f"{path}/{name}")
    finally:
        await kube.aclose()


def test_units_joining_a_shared_snapshot_at_once_share_its_writes(
    cluster: Cluster, namespace: str
) -> None:
    content = bpmn("shared-by-many")
    alone, unbatched = asyncio.run(join_at_once(cluster, namespace, content, batched=False))
    together, batched = asyncio.run(join_at_once(cluster, namespace, content, batched=True))
    # The same content: the second run joins the same snapshot, already owned by 41 units.
    assert unbatched["metadata"]["name"] == batched["metadata"]["name"]
    owners = {o["name"] for o in batched["metadata"]["ownerReferences"]}
    assert owners == {f"u{i}" for i in range(UNITS + 1)} | {f"b{i}" for i in range(UNITS + 1)}
    assert alone == UNITS
    assert 1 <= together <= 5, together
