"""The operator's writes against the real API server answer with metadata, and store everything.

Matrix: a status write of a unit holding 20 KiB of BPMN comes back as PartialObjectMetadata with
its new resourceVersion; a patch asking for metadata stores the whole change; a snapshot
created the same way is stored whole and readable. (A session's operator may be reconciling the
unit meanwhile, so what is stored is checked on ConfigMaps, which it never writes.)
"""

import asyncio
from typing import Any

from deployunits.content.digest import sha256_hex
from deployunits.k8s import snapshots
from deployunits.k8s.connection import Connection
from deployunits.k8s.gateway import ApiServer
from deployunits.k8s.raw import KubeClient, core_path, custom_path
from deployunits.models.deploymentunit import DeploymentUnitStatus
from tests.support.cluster import Cluster
from tests.support.models import bpmn

BPMN = bpmn("big", extra="".join(f'<bpmn:task id="t{i}" name="Task {i}"/>' for i in range(600)))


async def write_and_read(cluster: Cluster, namespace: str) -> tuple[Any, ...]:
    kube = KubeClient(Connection.load(str(cluster.kubeconfig)))
    try:
        unit = await kube.create(
            custom_path("deploymentunits", namespace),
            {
                "apiVersion": "bpm.deployunits.io/v1alpha1",
                "kind": "DeploymentUnit",
                "metadata": {"name": "big"},
                "spec": {
                    "deploymentId": "big-1",
                    "state": "Undeployed",
                    "resources": {"inline": [{"name": "big.bpmn", "content": BPMN}]},
                },
            },
        )
        status = {"observedGeneration": 1, "status": "UNDEPLOYED", "sourceDigest": "a" * 64}
        api = ApiServer(kube)
        # The store answers with the metadata typed; the API server's answer itself is what
        # this test looks at, so the transport's answer to the store's write is kept.
        answers: list[dict[str, Any]] = []
        patch = kube.patch

        async def kept(*args: Any, **kwargs: Any) -> dict[str, Any]:
            answers.append(await patch(*args, **kwargs))
            return answers[-1]

        kube.patch = kept  # type: ignore[method-assign]
        try:
            await api.units.write_status(
                namespace, "big", DeploymentUnitStatus.model_validate(status)
            )
        finally:
            kube.patch = patch  # type: ignore[method-assign]
        (answer,) = answers
        path = core_path("configmaps", namespace)
        await kube.create(path, {"metadata": {"name": "plain"}, "data": {"a": "1"}})
        patched = await kube.patch(f"{path}/plain", {"data": {"b": BPMN}}, metadata_only=True)
        stored = await kube.get(f"{path}/plain")
        sha = sha256_hex(BPMN.encode())
        name, key = await api.snapshots.ensure(namespace, sha, BPMN.encode(), unit)
        snapshot = await kube.get(core_path("configmaps", namespace, name))
        return unit, answer, patched, stored, key, snapshot, sha
    finally:
        await kube.aclose()


def test_writes_answer_with_metadata_and_store_everything(cluster: Cluster, namespace: str) -> None:
    unit, answer, patched, stored, key, snapshot, sha = asyncio.run(
        write_and_read(cluster, namespace)
    )
    assert len(BPMN) > 20_000
    assert answer["kind"] == "PartialObjectMetadata"
    assert "spec" not in answer and "status" not in answer
    assert answer["metadata"]["uid"] == unit["metadata"]["uid"]
    assert int(answer["metadata"]["resourceVersion"]) > int(unit["metadata"]["resourceVersion"])
    assert patched["kind"] == "PartialObjectMetadata" and "data" not in patched
    assert patched["metadata"]["resourceVersion"] == stored["metadata"]["resourceVersion"]
    assert stored["data"] == {"a": "1", "b": BPMN}
    assert key == snapshots.CONTENT_KEY
    assert snapshots.content_of(snapshot, sha).decode() == BPMN
