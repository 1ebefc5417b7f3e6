"""What a DeploymentUnit turns into: snapshots, definitions, versions, jobs, and refusals.

Matrix: Maven release and -SNAPSHOT kjars; a repository that is down (retried) and an artifact
that is missing (stalled); immutable content-addressed snapshots shared between units, drift
shown when a source ConfigMap changes; versions under concurrency and after deletion; duplicate
filtering (whole and changed-only); broken XML with line and column; hostile content (XXE,
billion laughs, path traversal, zip bomb, oversize); the custom-code policy per namespace; an
operator killed mid-job finishing the job once.
"""

import json
import os
import time
import zipfile
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest

from deployunits.content.maven import MavenCoordinates
from deployunits.k8s import snapshots
from devcluster.kjars import build_kjar
from devcluster.processes import OperatorProcess, wait_for
from tests.support.cluster import Cluster, condition
from tests.support.maven_repo import MavenRepo, maven_repo_fixture  # noqa: F401
from tests.support.models import bpmn, cmmn, dmn

pytestmark = pytest.mark.usefixtures("operator")


def unit_yaml(unit_name: str, deployment_id: str, resources: str, **spec: Any) -> str:
    extra = "".join(f"  {key}: {json.dumps(value)}\n" for key, value in spec.items())
    return (
        "apiVersion: bpm.deployunits.io/v1alpha1\nkind: DeploymentUnit\n"
        f"metadata:\n  name: {unit_name}\nspec:\n  deploymentId: {json.dumps(deployment_id)}\n"
        f"{extra}  resources:\n{resources}"
    )


def inline(**files: str) -> str:
    items = "".join(
        f"      - name: {json.dumps(name)}\n        content: {json.dumps(content)}\n"
        for name, content in files.items()
    )
    return f"    inline:\n{items}"


def maven_source(repo: MavenRepo, group: str, artifact: str, version: str) -> str:
    fields = f"groupId: {group}, artifactId: {artifact}, version: '{version}'"
    return f"    maven: {{{fields}, repository: {repo.url}}}\n"


def settled(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    """The unit once the operator has acted on its generation with a final job state."""
    found: dict[str, Any] = {}

    def done() -> bool:
        found.update(cluster.get("du", name, namespace))
        status = found.get("status", {})
        return bool(
            status.get("observedGeneration") == found["metadata"]["generation"]
            and status.get("status") in ("DEPLOYED", "DEPLOY_FAILED", "UNDEPLOYED")
        )

    wait_for(done, 60, f"unit {name} to settle: {json.dumps(found.get('status'))}")
    return found


def assert_stalled(unit: dict[str, Any], reason: str, *fragments: str) -> None:
    assert unit["status"]["status"] == "DEPLOY_FAILED", unit["status"]
    stalled = condition(unit, "Stalled")
    assert stalled is not None
    assert stalled["status"] == "True"
    assert stalled["reason"] == reason, stalled
    for fragment in fragments:
        assert fragment in stalled["message"], stalled["message"]
    ready = condition(unit, "Ready")
    assert ready is not None
    assert ready["status"] == "False"
    assert unit["status"]["job"]["success"] is False


def events(cluster: Cluster, namespace: str, name: str) -> list[str]:
    return [item["reason"] for item in cluster.events(namespace, f"involvedObject.name={name}")]


# Maven sources


def test_maven_release_and_snapshot_kjars_deploy(
    cluster: Cluster, namespace: str, maven_repo: MavenRepo
) -> None:
    jbpm = bpmn("evaluation").replace(
        'id="evaluation"',
        'id="evaluation" xmlns:drools="http://www.jboss.org/drools" '
        'drools:packageName="org.jbpm" drools:version="1.2"',
    )
    jar = build_kjar(
        {"org/jbpm/evaluation.bpmn2": jbpm.encode(), "rules/discount.drl": b"rule x end"},
        group_id="org.acme",
        artifact_id="evaluation",
        version="1.0.0",
    )
    maven_repo.publish(MavenCoordinates("org.acme", "evaluation", "1.0.0"), jar)
    snapshot = build_kjar(
        {"cases/claim.cmmn": cmmn("claim").encode()},
        group_id="org.acme",
        artifact_id="claims",
        version="2.0-SNAPSHOT",
    )
    maven_repo.publish(MavenCoordinates("org.acme", "claims", "2.0-SNAPSHOT"), snapshot)
    maven = maven_source(maven_repo, "org.acme", "evaluation", "1.0.0")
    cluster.apply(unit_yaml("evaluation", "org.acme:evaluation:1.0.0", maven), namespace)
    snap = maven_source(maven_repo, "org.acme", "claims", "2.0-SNAPSHOT")
    cluster.apply(unit_yaml("claims", "org.acme:claims:2.0-SNAPSHOT", snap), namespace)

    release = settled(cluster, namespace, "evaluation")
    assert release["status"]["status"] == "DEPLOYED", release["status"]
    names = sorted(r["name"] for r in release["status"]["resources"])
    assert names == ["META-INF/kmodule.xml", "org/jbpm/evaluation.bpmn2", "rules/discount.drl"]
    [process] = release["status"]["definitions"]
    assert process["kind"] == "process"
    assert process["key"] == "evaluation"
    assert process["packageName"] == "org.jbpm"
    assert process["modelVersion"] == "1.2"
    assert process["version"] == 1
    claims = settled(cluster, namespace, "claims")
    assert [d["key"] for d in claims["status"]["definitions"]] == ["claim"]
    assert any("maven-metadata.xml" in path for path in maven_repo.requested_paths)


def apply_kjar_unit_with_the_repository_down(
    cluster: Cluster, namespace: str, maven_repo: MavenRepo, name: str, key: str, artifact: str
) -> None:
    """A unit `name` of the kjar g:{artifact}:1 (one process, `key`), published to the
    repository, which then goes down."""
    jar = build_kjar(
        {"p.bpmn": bpmn(key).encode()}, group_id="g", artifact_id=artifact, version="1"
    )
    maven_repo.publish(MavenCoordinates("g", artifact, "1"), jar)
    maven_repo.unavailable = True
    source = maven_source(maven_repo, "g", artifact, "1")
    cluster.apply(unit_yaml(name, f"g:{artifact}:1", source), namespace)


def test_repository_down_is_retried_then_deploys(
    cluster: Cluster, namespace: str, maven_repo: MavenRepo
) -> None:
    apply_kjar_unit_with_the_repository_down(cluster, namespace, maven_repo, "waits", "later", "a")

    def reconciling() -> bool:
        found = condition(cluster.get("du", "waits", namespace), "Reconciling")
        return found is not None and found["status"] == "True"

    wait_for(reconciling, 30, "Reconciling=True while the repository is down")
    unit = cluster.get("du", "waits", namespace)
    assert unit["status"]["status"] == "DEPLOYING"
    assert condition(unit, "Reconciling")["reason"] == "SourceUnavailable"  # type: ignore[index]
    assert condition(unit, "Stalled")["status"] == "False"  # type: ignore[index]
    maven_repo.unavailable = False
    cluster.kubectl("wait", "--for=condition=Ready", "--timeout=90s", "du/waits", "-n", namespace)
    assert settled(cluster, namespace, "waits")["status"]["definitions"][0]["key"] == "later"


def test_missing_artifact_is_stalled(
    cluster: Cluster, namespace: str, maven_repo: MavenRepo
) -> None:
    source = maven_source(maven_repo, "g", "nowhere", "9")
    cluster.apply(unit_yaml("missing", "g:nowhere:9", source), namespace)
    assert_stalled(settled(cluster, namespace, "missing"), "ArtifactNotFound", "nowhere")
    assert "DeployFailed" in events(cluster, namespace, "missing")


# Snapshots


def test_snapshots_are_immutable_shared_and_survive_source_edits(
    cluster: Cluster, namespace: str
) -> None:
    content = bpmn("shared")
    cluster.kubectl(
        "create", "configmap", "src", "-n", namespace, f"--from-literal=shared.bpmn={content}"
    )
    cluster.apply(unit_yaml("first", "first-1", "    configMaps: [{name: src}]\n"), namespace)
    cluster.apply(unit_yaml("second", "second-1", inline(**{"shared.bpmn": content})), namespace)
    first = settled(cluster, namespace, "first")
    second = settled(cluster, namespace, "second")
    [stored] = first["status"]["resources"]
    assert second["status"]["resources"][0]["sha256"] == stored["sha256"]
    snapshot = cluster.get("configmap", stored["configMap"], namespace)
    assert snapshot["immutable"] is True
    assert stored["key"] in snapshot["binaryData"]
    assert snapshots.content_of(snapshot, stored["sha256"]).decode() == content
    owners = sorted(o["name"] for o in snapshot["metadata"]["ownerReferences"])
    assert owners == ["first", "second"]
    # An immutable ConfigMap refuses a change of its content.
    refused = cluster.kubectl(
        "patch",
        "configmap",
        stored["configMap"],
        "-n",
        namespace,
        "--type=merge",
        "-p",
        '{"binaryData": {"content": "AAAA"}}',
        check=False,
    )
    assert refused.returncode != 0
    # Editing the source leaves the unit as it was, and shows the drift.
    edited = cluster.kubectl(
        "create",
        "configmap",
        "src",
        "-n",
        namespace,
        f"--from-literal=shared.bpmn={bpmn('edited')}",
        "--dry-run=client",
        "-o",
        "yaml",
    ).stdout
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=edited)

    def drifted() -> bool:
        found = condition(cluster.get("du", "first", namespace), "SourceDrifted")
        return found is not None and found["status"] == "True"

    wait_for(drifted, 30, "SourceDrifted=True")
    after = cluster.get("du", "first", namespace)
    assert after["status"]["resources"] == first["status"]["resources"]
    assert after["status"]["definitions"] == first["status"]["definitions"]
    assert "shared.bpmn" in condition(after, "SourceDrifted")["message"]  # type: ignore[index]
    assert condition(after, "Ready")["status"] == "True"  # type: ignore[index]


# Versions


def test_concurrent_units_with_one_key_get_versions_one_to_twenty(
    cluster: Cluster, namespace: str
) -> None:
    documents = "\n---\n".join(
        unit_yaml(f"v{i}", f"v-{i}", inline(**{"p.bpmn": bpmn("contended")})) for i in range(20)
    )
    cluster.apply(documents, namespace)
    versions = []
    for i in range(20):
        unit = settled(cluster, namespace, f"v{i}")
        [definition] = unit["status"]["definitions"]
        assert definition["id"].startswith(f"contended:{definition['version']}:")
        versions.append(definition["version"])
    assert sorted(versions) == list(range(1, 21))


def test_keys_are_versioned_per_kind_and_tenant_and_deletion_shifts_nothing(
    cluster: Cluster, namespace: str
) -> None:
    cluster.apply(
        unit_yaml("a", "a-1", inline(**{"x.bpmn": bpmn("x"), "x.dmn": dmn("x")})), namespace
    )
    assert {
        d["kind"]: d["version"] for d in settled(cluster, namespace, "a")["status"]["definitions"]
    } == {
        "process": 1,
        "decision": 1,
    }
    cluster.apply(unit_yaml("b", "b-1", inline(**{"x.bpmn": bpmn("x")})), namespace)
    cluster.apply(
        unit_yaml("t", "t-1", inline(**{"x.bpmn": bpmn("x")}), tenantId="other"), namespace
    )
    assert settled(cluster, namespace, "b")["status"]["definitions"][0]["version"] == 2
    assert settled(cluster, namespace, "t")["status"]["definitions"][0]["version"] == 1
    cluster.kubectl("delete", "du", "a", "-n", namespace, "--timeout=60s")
    assert settled(cluster, namespace, "b")["status"]["definitions"][0]["version"] == 2
    assert "Undeployed" in events(cluster, namespace, "a")
    cluster.apply(unit_yaml("c", "c-1", inline(**{"x.bpmn": bpmn("x")})), namespace)
    assert settled(cluster, namespace, "c")["status"]["definitions"][0]["version"] == 3


def test_non_executable_processes_get_no_definition(cluster: Cluster, namespace: str) -> None:
    cluster.apply(
        unit_yaml("ne", "ne-1", inline(**{"n.bpmn": bpmn("draft", executable=False)})), namespace
    )
    unit = settled(cluster, namespace, "ne")
    assert unit["status"]["status"] == "DEPLOYED"
    assert unit["status"]["definitions"] == []


# Duplicate filtering


def test_duplicate_filtering_whole_and_changed_only(cluster: Cluster, namespace: str) -> None:
    common = {"name": "invoice", "source": "ci", "enableDuplicateFiltering": True}
    files = {"a.bpmn": bpmn("a"), "b.bpmn": bpmn("b")}
    cluster.apply(unit_yaml("d1", "d-1", inline(**files), **common), namespace)
    first = settled(cluster, namespace, "d1")
    assert sorted(d["key"] for d in first["status"]["definitions"]) == ["a", "b"]

    cluster.apply(unit_yaml("d2", "d-2", inline(**files), **common), namespace)
    duplicate = settled(cluster, namespace, "d2")
    assert duplicate["status"]["duplicateOf"] == "d-1"
    assert duplicate["status"]["definitions"] == []
    assert condition(duplicate, "Ready")["reason"] == "Duplicate"  # type: ignore[index]

    changed = {"a.bpmn": bpmn("a"), "b.bpmn": bpmn("b", extra='<bpmn:endEvent id="e"/>')}
    cluster.apply(
        unit_yaml("d3", "d-3", inline(**changed), deployChangedOnly=True, **common), namespace
    )
    third = settled(cluster, namespace, "d3")
    assert [(d["key"], d["version"]) for d in third["status"]["definitions"]] == [("b", 2)]
    assert len(third["status"]["resources"]) == 2

    cluster.apply(
        unit_yaml(
            "d4",
            "d-4",
            inline(**changed),
            source="other",
            **{k: v for k, v in common.items() if k != "source"},
        ),
        namespace,
    )
    other_source = settled(cluster, namespace, "d4")
    assert sorted((d["key"], d["version"]) for d in other_source["status"]["definitions"]) == [
        ("a", 2),
        ("b", 3),
    ]


# Refusals


def test_broken_xml_reports_line_and_column(cluster: Cluster, namespace: str) -> None:
    broken = '<?xml version="1.0"?>\n<definitions>\n  <process id="x">\n</definitions>'
    cluster.apply(unit_yaml("broken", "broken-1", inline(**{"x.bpmn": broken})), namespace)
    unit = settled(cluster, namespace, "broken")
    assert_stalled(unit, "InvalidContent", "resource 'x.bpmn' line 4, column")
    assert "DeployFailed" in events(cluster, namespace, "broken")


@pytest.mark.parametrize(
    ("name", "content", "fragment"),
    [
        (
            "xxe.bpmn",
            '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            "<definitions>&x;</definitions>",
            "DTDs and entity declarations are not allowed",
        ),
        (
            "laughs.bpmn",
            '<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
            "<definitions>&b;</definitions>",
            "DTDs and entity declarations are not allowed",
        ),
        ("../escape.bpmn", bpmn("escape"), "../escape.bpmn"),
    ],
)
def test_hostile_content_is_refused_clearly(
    cluster: Cluster, namespace: str, name: str, content: str, fragment: str
) -> None:
    cluster.apply(unit_yaml("hostile", "hostile-1", inline(**{name: content})), namespace)
    unit = settled(cluster, namespace, "hostile")
    assert_stalled(unit, "InvalidContent", fragment)
    snapshots = cluster.kubectl(
        "get", "configmaps", "-n", namespace, "-l", "bpm.deployunits.io/snapshot", "-o", "name"
    ).stdout
    assert snapshots.strip() == "", "nothing is stored for refused content"


def _zip_bomb() -> bytes:
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("META-INF/kmodule.xml", "<kmodule/>")
        archive.writestr("bomb.bpmn", b"\0" * (64 * 1024 * 1024))
    return buffer.getvalue()


def test_zip_bombs_and_oversize_resources_in_kjars_are_refused(
    cluster: Cluster, namespace: str, maven_repo: MavenRepo
) -> None:
    maven_repo.publish(MavenCoordinates("g", "bomb", "1"), _zip_bomb())
    big = build_kjar(
        {"big.bpmn": os.urandom(10 * 1024 * 1024 + 1)}, group_id="g", artifact_id="big", version="1"
    )
    maven_repo.publish(MavenCoordinates("g", "big", "1"), big)
    for artifact in ("bomb", "big"):
        source = maven_source(maven_repo, "g", artifact, "1")
        cluster.apply(unit_yaml(artifact, f"g:{artifact}:1", source), namespace)
    assert_stalled(settled(cluster, namespace, "bomb"), "InvalidContent", "bomb.bpmn")
    assert_stalled(settled(cluster, namespace, "big"), "InvalidContent", "big.bpmn")


def test_custom_code_policy_is_set_per_namespace(cluster: Cluster, namespace: str) -> None:
    script = bpmn("scripted", extra='<bpmn:scriptTask id="Task_1" scriptFormat="groovy"/>')
    cluster.apply(unit_yaml("allowed", "allowed-1", inline(**{"s.bpmn": script})), namespace)
    assert settled(cluster, namespace, "allowed")["status"]["status"] == "DEPLOYED"
    cluster.kubectl("annotate", "namespace", namespace, "bpm.deployunits.io/custom-code=deny")
    # The policy is cached for a few seconds; a new unit after that is refused.
    time.sleep(11)
    cluster.apply(unit_yaml("denied", "denied-1", inline(**{"s.bpmn": script})), namespace)
    assert_stalled(
        settled(cluster, namespace, "denied"), "CustomCodeRefused", "scriptTask 'Task_1'"
    )


# Crashes


def test_operator_killed_mid_job_finishes_the_job_once(
    cluster: Cluster, namespace: str, operator: OperatorProcess, maven_repo: MavenRepo
) -> None:
    apply_kjar_unit_with_the_repository_down(cluster, namespace, maven_repo, "crash", "crash", "c")

    def deploying() -> bool:
        return cluster.get("du", "crash", namespace).get("status", {}).get("status") == "DEPLOYING"

    wait_for(deploying, 30, "the job to be in flight")
    job_before = cluster.get("du", "crash", namespace)["status"]["job"]
    operator.kill()
    maven_repo.unavailable = False
    operator.start()
    unit = settled(cluster, namespace, "crash")
    assert unit["status"]["status"] == "DEPLOYED"
    assert unit["status"]["job"]["identifier"] == job_before["identifier"]
    assert unit["status"]["job"]["submitted"] == job_before["submitted"]
    assert [d["version"] for d in unit["status"]["definitions"]] == [1]
    assert events(cluster, namespace, "crash").count("Deployed") == 1


@pytest.fixture
def sharding(
    cluster: Cluster, namespace: str, operator: OperatorProcess, tmp_path: Path
) -> Iterator[None]:
    """The operator, for the test, with room for two owners per snapshot ConfigMap."""
    operator.stop()
    sharding = OperatorProcess(
        cluster.kubeconfig,
        tmp_path / "sharding.log",
        env={"DEPLOYUNITS_SNAPSHOT_MAX_OWNERS": "2", "DEPLOYUNITS_NAMESPACES": f'["{namespace}"]'},
    )
    try:
        sharding.start()
        yield
    finally:
        sharding.stop()
        operator.start()


def assert_sharded(cluster: Cluster, namespace: str, stored: list[dict[str, Any]]) -> None:
    """Five units' resources spread over three shards of two owners at most, each unit an
    owner of the shard its status names."""
    names = {r["configMap"] for r in stored}
    assert len(names) == 3, names
    for name in names:
        snapshot = cluster.get("configmap", name, namespace)
        assert 1 <= len(snapshot["metadata"]["ownerReferences"]) <= 2
        assert snapshot["immutable"] is True
    owners = {
        o["name"]
        for name in names
        for o in cluster.get("configmap", name, namespace)["metadata"]["ownerReferences"]
    }
    assert owners == {f"s{i}" for i in range(5)}


@pytest.mark.usefixtures("sharding")
def test_many_units_sharing_one_content_spread_over_snapshot_shards(
    cluster: Cluster, namespace: str
) -> None:
    # ownerReferences count toward etcd's object size limit, so a shared content is sharded.
    content = bpmn("popular")
    cluster.apply(
        "\n---\n".join(
            unit_yaml(f"s{i}", f"s-{i}", inline(**{"p.bpmn": content})) for i in range(5)
        ),
        namespace,
    )
    stored = [settled(cluster, namespace, f"s{i}")["status"]["resources"][0] for i in range(5)]
    assert_sharded(cluster, namespace, stored)


@pytest.mark.usefixtures("sharding")
def test_units_made_of_a_stored_snapshot_join_it_up_to_its_bound(
    cluster: Cluster, namespace: str
) -> None:
    # As the shim stores an upload: an unowned snapshot first, then units that name it. Each
    # unit reads it by claiming it; a claim past the bound is given back for a further shard.
    content = bpmn("stored").encode()
    sha = snapshots.sha256_hex(content)
    cluster.apply(json.dumps(snapshots.snapshot_body(sha, content)), namespace)
    source = f"    snapshots:\n      - name: p.bpmn\n        sha256: {sha}\n"
    cluster.apply("\n---\n".join(unit_yaml(f"s{i}", f"s-{i}", source) for i in range(5)), namespace)
    units = [settled(cluster, namespace, f"s{i}") for i in range(5)]
    assert [u["status"]["status"] for u in units] == ["DEPLOYED"] * 5
    stored = [u["status"]["resources"][0] for u in units]
    assert snapshots.snapshot_name(sha) in {r["configMap"] for r in stored}
    assert_sharded(cluster, namespace, stored)
