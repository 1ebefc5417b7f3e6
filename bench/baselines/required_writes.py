"""The required-writes floor: a plain client making exactly the writes a deployed unit needs.

Per unit, in order: the unit's create, one snapshot ConfigMap with all its content, the full
status of a deployed unit, and one Event (the bodies of writes.py, as the least operator writes
them), at the benchmark's concurrency, while the watches the operator opens run in the namespace
(units, Redeploys, and ConfigMaps other than snapshots) and read every event. No kopf, no reads,
no parsing, no Maven: what the API server has to do for deployed units, and nothing any operator
could leave out. A benchmark's ratio to it is the operator's whole overhead.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from bench.baselines import writes
from bench.common import Stopwatch, bounded
from deployunits import constants
from deployunits.k8s.raw import KubeClient, core_path, custom_path

#: A watch: its path in a namespace, and its label selector.
Watch = tuple[Callable[[str], str], str | None]

#: The operator's watches in a namespace, as its kopf settings set them.
WATCHES: tuple[Watch, ...] = (
    (lambda ns: custom_path("deploymentunits", ns), None),
    (lambda ns: custom_path("redeploys", ns), None),
    (lambda ns: core_path("configmaps", ns), f"!{constants.SNAPSHOT_LABEL}"),
)

#: A unit to create and the content its snapshot stores (resource name -> bytes).
Unit = tuple[dict[str, Any], dict[str, bytes]]


async def _follow(kube: KubeClient, path: str, selector: str | None) -> None:
    """Read a watch's events until cancelled, as a watcher that keeps up would."""
    listing = await kube.get(path, params={"limit": "1"})
    version = listing["metadata"]["resourceVersion"]
    params = {"labelSelector": selector} if selector else None
    while True:
        async for event in kube.watch(path, resource_version=version, params=params):
            version = event.get("object", {}).get("metadata", {}).get("resourceVersion", version)


@contextlib.asynccontextmanager
async def watching(
    kube: KubeClient, namespace: str, watches: Sequence[Watch] = WATCHES
) -> AsyncIterator[None]:
    """The watches on the namespace (the operator's unless told), open for the block."""
    tasks = [asyncio.create_task(_follow(kube, path(namespace), sel)) for path, sel in watches]
    await asyncio.sleep(0.5)  # let the watches open before the writes start
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def required_writes(
    kube: KubeClient, namespace: str, units: Sequence[Unit], concurrency: int
) -> float:
    """Seconds for the required writes of every unit, the operator's watches open."""

    async def one(body: dict[str, Any], content: dict[str, bytes]) -> None:
        created = await kube.create(custom_path("deploymentunits", namespace), body)
        await writes.deployed(kube, created, content)

    async with watching(kube, namespace):
        with Stopwatch() as watch:
            await bounded(concurrency, [lambda b=b, c=c: one(b, c) for b, c in units])
    return watch.seconds
