"""Large resources: up to 10 MiB each and 50 MiB per unit, stored compressed and split over as
many snapshot ConfigMaps as needed, read back whole; beyond the limits, refused before anything
is stored, in the caller's dialect."""

import json
import random
from typing import Any

import httpx
import pytest

from deployunits.content.maven import MavenCoordinates
from deployunits.k8s import snapshots
from devcluster.kjars import build_kjar
from devcluster.processes import ShimProcess, wait_for
from tests.support.cluster import Cluster
from tests.support.maven_repo import MavenRepo, maven_repo_fixture  # noqa: F401
from tests.support.models import bpmn
from tests.support.stored import assert_nothing_stored, stored_objects
from tests.support.units import deployment_unit

MIB = 1024 * 1024


def documented_bpmn(process_id: str, size: int) -> bytes:
    """A valid BPMN of exactly `size` bytes, most of them prose-like documentation (it gzips
    about fivefold: over one ConfigMap even gzipped once it is a few MiB)."""
    words = ["order", "invoice", "approve", "customer", "shipment", "review", "escalate"]
    rng = random.Random(size)
    head = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="defs" '
        'targetNamespace="http://bpmn.io/schema/bpmn">'
        f'<bpmn:process id="{process_id}" isExecutable="true"><bpmn:documentation>'
    ).encode()
    tail = b'</bpmn:documentation><bpmn:startEvent id="start"/></bpmn:process></bpmn:definitions>'
    room = size - len(head) - len(tail)
    prose = " ".join(f"{rng.choice(words)}{rng.randrange(100)}" for _ in range(room // 8 + 1))
    return head + prose.encode()[:room] + tail


def config_map(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    output = cluster.kubectl("get", "cm", "-n", namespace, name, "-o", "json").stdout
    return dict(json.loads(output))


def assert_split_and_owned(cluster: Cluster, namespace: str, resource: dict[str, Any]) -> int:
    """The resource's snapshot is an index whose parts exist, each owned by the index; returns
    how many parts it has."""
    index = config_map(cluster, namespace, resource["configMap"])
    assert resource["key"] == snapshots.PARTS_KEY
    parts = snapshots.index_of(index)
    assert parts is not None and len(parts) > 1
    for part in parts:
        stored = config_map(cluster, namespace, snapshots.part_name(part.sha256))
        owners = [o["uid"] for o in stored["metadata"]["ownerReferences"]]
        assert index["metadata"]["uid"] in owners
        assert stored["immutable"] is True
    return len(parts)


def test_a_10_mib_bpmn_uploaded_through_the_shim_reads_back_whole(
    shim: ShimProcess, cluster: Cluster, namespace: str
) -> None:
    content = documented_bpmn("large", 10 * MIB)
    assert len(snapshots.pack(content)) > snapshots.MAX_STORED_BYTES
    engine = shim.engine(namespace)
    response = httpx.post(
        f"{engine}/deployment/create",
        data={"deployment-name": "large"},
        files={"r": ("large.bpmn", content)},
        timeout=120,
    )
    assert response.status_code == 200, response.text
    deployment = response.json()["id"]
    assert [d["key"] for d in response.json()["deployedProcessDefinitions"].values()] == ["large"]
    [resource] = httpx.get(f"{engine}/deployment/{deployment}/resources", timeout=30).json()
    data = httpx.get(
        f"{engine}/deployment/{deployment}/resources/{resource['id']}/data", timeout=60
    )
    assert data.status_code == 200 and data.content == content

    [unit_name] = cluster.kubectl("get", "du", "-n", namespace, "-o", "name").stdout.split()
    unit = json.loads(cluster.kubectl("get", unit_name, "-n", namespace, "-o", "json").stdout)
    [stored] = unit["status"]["resources"]
    assert assert_split_and_owned(cluster, namespace, stored) >= 2


def test_a_kjar_resource_too_large_for_one_configmap_is_split_and_collected_with_its_unit(
    cluster: Cluster, namespace: str, maven_repo: MavenRepo, operator: object
) -> None:
    # Noise does not shrink: 3 MiB takes at least four parts.
    noise = random.Random(3).randbytes(3 * MIB)
    kjar = build_kjar(
        {"p.bpmn": bpmn("p").encode(), "rules/table.xlsx": noise},
        group_id="g",
        artifact_id="large",
        version="1",
    )
    maven_repo.publish(MavenCoordinates("g", "large", "1"), kjar)
    maven = {"repository": maven_repo.url, "groupId": "g", "artifactId": "large", "version": "1"}
    cluster.apply_objects(
        namespace, deployment_unit("large", deployment_id="g:large:1", maven=maven)
    )

    def unit() -> dict[str, Any]:
        output = cluster.kubectl("get", "du", "large", "-n", namespace, "-o", "json").stdout
        return dict(json.loads(output))

    wait_for(
        lambda: unit().get("status", {}).get("status") == "DEPLOYED",
        timeout=120,
        what="the large kjar unit deployed",
    )
    [image] = [r for r in unit()["status"]["resources"] if r["name"] == "rules/table.xlsx"]
    assert assert_split_and_owned(cluster, namespace, image) >= 4

    cluster.kubectl("delete", "du", "large", "-n", namespace, "--wait=true")
    assert_nothing_stored(cluster, namespace, timeout=60)


@pytest.mark.parametrize(
    ("sizes", "message"),
    [
        ([10 * MIB + 1], "resource 'r0.png' has 10485761 bytes, more than the limit of 10485760"),
        ([9 * MIB] * 6, "the unit has 56623104 bytes, more than the limit of 52428800"),
    ],
    ids=["resource-over-10-mib", "unit-over-50-mib"],
)
def test_uploads_over_the_limits_are_refused_before_anything_is_stored(
    shim: ShimProcess, cluster: Cluster, namespace: str, sizes: list[int], message: str
) -> None:
    rng = random.Random(len(sizes))
    files = [(f"r{i}", (f"r{i}.png", rng.randbytes(size))) for i, size in enumerate(sizes)]
    response = httpx.post(f"{shim.engine(namespace)}/deployment/create", files=files, timeout=120)
    assert response.status_code == 400, response.text
    assert response.json()["type"] == "InvalidRequestException"
    assert response.json()["message"] == f"The deployment is refused: {message}."
    assert stored_objects(cluster, namespace) == []
