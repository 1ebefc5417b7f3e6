"""The least a REST create through the shim costs: its required API requests by a plain client.

A create through the shim ends in a deployed unit whose content sits in an immutable snapshot
that the unit owns. Made by a plain client, one after the other, those are the requests:

1. the snapshot ConfigMap (its owner does not exist yet, so it is created without one);
2. the DeploymentUnit naming it;
3. the unit added to the snapshot's owners, which answers with the snapshot as written: the
   operator, another process, deploys from what is stored, and reads it this way;
4. the deployed unit's status (the operator is its only writer);
5. one Event, which nobody waits for (it is not in the one-client latency).

The watches of the operator (units, Redeploys, ConfigMaps other than snapshots) and the shim's
own watch of units are open and read every event. No kopf, no HTTP server, no parsing, no
versions: what the API server and etcd have to do for each create, which no implementation of
this design can leave out. `bench/camunda_vs_engine.py` runs it before the operator starts.
"""

import contextlib
import time
from collections.abc import AsyncIterator, Sequence

from bench.baselines import writes
from bench.baselines.required_writes import WATCHES, watching
from bench.common import bounded
from deployunits import constants
from deployunits.content.digest import sha256_hex
from deployunits.k8s import snapshots
from deployunits.k8s.errors import JSON
from deployunits.k8s.raw import KubeClient, core_path, custom_path

#: A create: the resource's name and content.
Upload = tuple[str, bytes]


async def one_create(kube: KubeClient, namespace: str, index: int, upload: Upload) -> JSON:
    """The requests of one create up to its deployed status, in the order they happen; returns
    the Event that follows."""
    name, content = upload
    sha = sha256_hex(content)
    await kube.create(
        core_path("configmaps", namespace),
        snapshots.snapshot_body(sha, content),
        metadata_only=True,
    )
    unit = await kube.create(
        custom_path("deploymentunits", namespace),
        {
            "apiVersion": constants.API_VERSION,
            "kind": constants.DEPLOYMENT_UNIT_KIND,
            "metadata": {
                "name": f"floor-{index}",
                "labels": {constants.CREATED_BY_LABEL: constants.CREATED_BY},
                "finalizers": [constants.FINALIZER],
            },
            "spec": {
                "deploymentId": f"floor-{index}",
                "resources": {"snapshots": [{"name": name, "sha256": sha}]},
            },
        },
    )
    await kube.patch(
        core_path("configmaps", namespace, snapshots.snapshot_name(sha)),
        {"metadata": {"ownerReferences": [snapshots.owner_reference(unit)]}},
        "strategic",
    )
    meta = unit["metadata"]
    status = writes.deployed_status(
        meta["name"], meta["generation"], snapshots.snapshot_name(sha), {name: content}
    )
    await kube.patch(
        custom_path("deploymentunits", namespace, meta["name"], "status"),
        {"status": status},
        metadata_only=True,
    )
    return writes.event(meta["name"], namespace, meta["uid"], status["conditions"][0]["message"])


@contextlib.asynccontextmanager
async def watched(kube: KubeClient, namespace: str) -> AsyncIterator[None]:
    """The operator's watches and the shim's watch of units, open for the block."""
    async with watching(kube, namespace), watching(kube, namespace, WATCHES[:1]):
        yield


async def creates(
    kube: KubeClient, namespace: str, uploads: Sequence[Upload], concurrency: int, first: int
) -> list[float]:
    """Each create's seconds, `concurrency` at a time (watches opened by the caller)."""
    latencies: list[float] = []

    async def timed(index: int, upload: Upload) -> None:
        started = time.perf_counter()
        event = await one_create(kube, namespace, index, upload)
        latencies.append(time.perf_counter() - started)
        await kube.create(core_path("events", namespace), event, metadata_only=True)

    await bounded(
        concurrency, [lambda i=i, u=u: timed(first + i, u) for i, u in enumerate(uploads)]
    )
    return latencies


async def remove(kube: KubeClient, namespace: str, concurrency: int) -> None:
    """Delete the floor's units (their finalizers first: no operator runs to remove them)."""
    units = custom_path("deploymentunits", namespace)
    names = [u["metadata"]["name"] for u in (await kube.get(units))["items"]]
    unfinalized = {"metadata": {"finalizers": None}}
    await bounded(
        concurrency,
        [
            lambda n=n: kube.patch(
                custom_path("deploymentunits", namespace, n), unfinalized, metadata_only=True
            )
            for n in names
        ],
    )
    await kube.request("DELETE", units)
