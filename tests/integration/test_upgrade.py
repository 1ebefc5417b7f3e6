"""Upgrading: the previous base and operator, then the current ones, and every unit stays put.

The previous version is the newest release tag (`v*`) when there is one, else the commit before
the CRDs last changed (DEPLOYUNITS_UPGRADE_FROM names another revision). Its manifests/ and
operator/ come from git; its operator runs from its own sources with this environment's
dependencies. On an empty control plane of the module's own:

1. `kubectl apply -k` of the previous base, and the previous operator;
2. the samples' ConfigMap unit and inline unit become Ready;
3. the operator stops, `kubectl apply -k manifests/` (the current base), the current operator
   starts (what a rollout does), and a unit created now becomes Ready;
4. the earlier units are still Ready, with the same job, deployment time and versions (no job
   ran again), and the CRDs' stored versions are still only the served storage version: a user
   has nothing to migrate.
"""

import json
import os
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
import yaml

from devcluster.processes import OperatorProcess
from tests.support.cluster import Cluster
from tests.support.manifests import MANIFESTS, REPO, render

UNITS = ("invoice", "hello-inline")
KINDS = ("deploymentunits", "redeploys")


def git(*args: str) -> str:
    result = subprocess.run(
        ["git", *args], cwd=REPO, capture_output=True, text=True, check=False, timeout=60
    )
    if result.returncode != 0:
        pytest.skip(f"no git history to upgrade from (git {' '.join(args)}): {result.stderr}")
    return result.stdout.strip()


def previous_revision() -> str:
    """DEPLOYUNITS_UPGRADE_FROM, else the newest release tag, else the commit before the CRDs
    last changed."""
    given = os.environ.get("DEPLOYUNITS_UPGRADE_FROM")
    if given:
        return given
    tags = git("tag", "--list", "v*", "--sort=-v:refname", "--merged", "HEAD").splitlines()
    if tags:
        return tags[0]
    return f"{git('log', '-1', '--format=%H', '--', 'crds')}^"


@pytest.fixture(scope="module")
def previous(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """manifests/ and operator/ of the previous version, unpacked."""
    revision = previous_revision()
    archive = subprocess.run(
        ["git", "archive", "--format=tar", revision, "manifests", "operator"],
        cwd=REPO,
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout
    target = tmp_path_factory.mktemp("previous")
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(target, filter="data")
    print(f"\nupgrading from {revision} ({git('rev-parse', '--short', revision)})")
    return target


def operator_of(cluster: Cluster, log: Path, sources: Path | None = None) -> OperatorProcess:
    """An operator; from `sources` (another version's operator/) when given."""
    if sources is None:
        return OperatorProcess(cluster.kubeconfig, log)
    command = [sys.executable, "-c", "from deployunits.handlers.main import main; main()"]
    # PYTHONPATH comes before the editable install's path entry: the old package wins.
    return OperatorProcess(
        cluster.kubeconfig, log, env={"PYTHONPATH": str(sources)}, command=command
    )


def apply_base(cluster: Cluster, base: Path) -> None:
    cluster.kubectl("apply", "-k", str(base))
    crds = [o["metadata"]["name"] for o in render(base) if o["kind"] == "CustomResourceDefinition"]
    cluster.kubectl(
        "wait", "--for=condition=Established", "--timeout=60s", *[f"crd/{n}" for n in crds]
    )
    # Discovery is cached per server; refresh it for the kinds just added.
    cluster.kubectl("api-resources")


def samples(folder: Path) -> str:
    """The sample ConfigMap unit (with its generated ConfigMap) and the inline unit."""
    objects = [
        o for o in render(folder) if o["kind"] == "ConfigMap" or o["metadata"]["name"] in UNITS
    ]
    return yaml.safe_dump_all(objects, sort_keys=False)


def outcome(unit: dict[str, Any]) -> dict[str, Any]:
    """What a job that ran again would change."""
    status = unit["status"]
    [ready] = [c for c in status["conditions"] if c["type"] == "Ready"]
    return {
        "job": status["job"],
        "status": status["status"],
        "deploymentTime": status.get("deploymentTime"),
        "versions": sorted((d["key"], d["version"]) for d in status["definitions"]),
        "ready": (ready["status"], ready["lastTransitionTime"]),
    }


@pytest.fixture(scope="module")
def space(own_plane: Cluster) -> Iterator[str]:
    with own_plane.scratch_namespace("upgrade") as name:
        yield name


def test_units_stay_ready_and_no_job_runs_again(
    own_plane: Cluster, previous: Path, space: str, tmp_path: Path
) -> None:
    cluster = own_plane
    apply_base(cluster, previous / "manifests")
    old = operator_of(cluster, tmp_path / "old-operator.log", previous / "operator")
    old.start()
    try:
        cluster.apply(samples(previous / "manifests" / "samples"), space)
        before = {
            name: outcome(cluster.wait_condition(name, space, "Ready", old)) for name in UNITS
        }
    finally:
        old.stop()

    apply_base(cluster, MANIFESTS)
    new = operator_of(cluster, tmp_path / "new-operator.log")
    new.start()
    try:
        fresh = yaml.safe_load((MANIFESTS / "samples" / "inline-unit.yaml").read_text())
        fresh["metadata"]["name"] = "after-upgrade"
        fresh["spec"]["deploymentId"] = "after-upgrade-1"
        cluster.apply(json.dumps(fresh), space)
        cluster.wait_condition("after-upgrade", space, "Ready", new)
        for name in UNITS:
            unit = cluster.wait_condition(name, space, "Ready", new)
            assert unit["status"]["observedGeneration"] == unit["metadata"]["generation"]
            assert outcome(unit) == before[name], f"{name}: a job ran again\n{new.tail()}"
    finally:
        new.stop()

    for kind in KINDS:
        found = cluster.kubectl("get", "crd", f"{kind}.bpm.deployunits.io", "-o", "json")
        crd = json.loads(found.stdout)
        storage = [v["name"] for v in crd["spec"]["versions"] if v["storage"]]
        assert crd["status"]["storedVersions"] == storage, kind
