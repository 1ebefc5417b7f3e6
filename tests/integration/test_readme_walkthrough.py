"""The README's walkthrough, run for real: GitOps folder, REST shim in both auth modes, status.

The README marks the shell blocks to run with the info string ```` ```sh walkthrough ````; they
run in document order as one bash script (so `NS`, `TOKEN` and the working directory carry over),
with kubectl from the virtualenv on PATH and KUBECONFIG pointing at the test cluster. The one
```` ```sh walkthrough-server ```` block (the shim in auth mode `kubernetes`) runs in the
background meanwhile; the shim of `make run` (auth mode `none`) is a ShimProcess. The test only
rewrites what differs from `make run`: the namespace (`NS=bpm-demo`), the ports 8080, 8081 and
8090, `.dev/kubeconfig` and `.venv/bin/`. The script runs in a scratch directory that links
`examples/` and `manifests/`, so the walkthrough's copy of the Git folder and its edit stay there.

Matrix: the YAML the README shows is the content of the files in `examples/gitops/`; the overlay
with the HA component builds; every walkthrough block succeeds and prints what the README says
(versions 1 1, then 2 2 after the edit, 3 for the redeployed process; Camunda and jBPM answers
without a token in mode `none`; 401 without a token, the count and an upload with a
ServiceAccount token in mode `kubernetes`; conditions, events and both metrics endpoints).
"""

import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from deployunits.content.maven import MavenCoordinates
from devcluster.kjars import build_kjar, jbpm_bpmn
from devcluster.plane import die_with_parent, free_port
from devcluster.processes import OperatorProcess, ShimProcess, wait_for
from tests.support.cluster import REPO, Cluster, unique_name
from tests.support.maven_repo import MavenRepo

README = REPO / "README.md"
FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
KJAR = MavenCoordinates("com.example", "orders-kjar", "1.0.0")
VENV_BIN = Path(sys.executable).parent


def blocks(info: str) -> list[str]:
    """The README's fenced blocks with exactly this info string, in document order."""
    return [body for found, body in FENCE.findall(README.read_text()) if found.strip() == info]


def substitute(text: str, replacements: dict[str, str]) -> str:
    """Replace each key (which must occur, so that README drift is noticed) by its value."""
    for old, new in replacements.items():
        assert old in text, f"the README walkthrough no longer contains {old!r}"
        text = text.replace(old, new)
    return text


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def test_the_yaml_the_readme_shows_is_in_examples() -> None:
    shown = {
        info: body
        for info, body in FENCE.findall(README.read_text())
        if info.startswith("yaml examples/")
    }
    assert len(shown) == 3, sorted(shown)
    for info, body in shown.items():
        path = REPO / info.removeprefix("yaml ")
        assert yaml.safe_load(body) == yaml.safe_load(path.read_text()), path


def test_the_overlay_builds_with_image_ha_and_admission(cluster: Cluster, tmp_path: Path) -> None:
    (overlay,) = blocks("yaml overlay")
    (tmp_path / "manifests").symlink_to(REPO / "manifests")
    folder = tmp_path / "overlays" / "prod"
    folder.mkdir(parents=True)
    (folder / "kustomization.yaml").write_text(overlay)
    built = list(yaml.safe_load_all(cluster.kubectl("kustomize", str(folder)).stdout))
    (deployment,) = [o for o in built if o["kind"] == "Deployment"]
    assert deployment["spec"]["replicas"] == 2
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert {c["image"] for c in containers} == {"REGISTRY/deployunits:0.1.0"}
    assert containers[0]["args"] == ["--peering"]
    assert any(o["kind"] == "ClusterKopfPeering" for o in built)
    assert any(o["kind"] == "MutatingAdmissionPolicy" for o in built)


@pytest.fixture
def maven(tmp_path: Path) -> Iterator[MavenRepo]:
    """A Maven repository holding the kjar the README's jBPM example deploys."""
    repo = MavenRepo(tmp_path / "maven")
    kjar = build_kjar(
        {"com/example/orders.bpmn2": jbpm_bpmn("orders", package="com.example")},
        group_id=KJAR.group_id,
        artifact_id=KJAR.artifact_id,
        version=KJAR.version,
    )
    repo.publish(KJAR, kjar)
    yield repo
    repo.stop()


@pytest.fixture
def demo_namespace(cluster: Cluster) -> Iterator[str]:
    """The name the walkthrough's `NS=bpm-demo` becomes; the walkthrough creates it."""
    name = unique_name("readme")
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def local_shim(
    cluster: Cluster, demo_namespace: str, maven: MavenRepo, tmp_path: Path
) -> Iterator[ShimProcess]:
    """The shim `make run` starts (auth mode none), with the walkthrough's namespace as default."""
    shim = ShimProcess(
        cluster.kubeconfig,
        tmp_path / "shim.log",
        namespace=demo_namespace,
        env={"DEPLOYUNITS_MAVEN_REPOSITORY": maven.url},
    )
    shim.start()
    yield shim
    shim.stop()


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """Stands in for the repository root: examples/ and manifests/ linked, everything else new."""
    root = tmp_path / "repo"
    root.mkdir()
    for name in ("examples", "manifests"):
        (root / name).symlink_to(REPO / name)
    return root


@pytest.fixture
def token_shim(cluster: Cluster, workdir: Path, tmp_path: Path) -> Iterator[int]:
    """The README's command for a shim in auth mode kubernetes, running; yields its port."""
    (command,) = blocks("sh walkthrough-server")
    port = free_port()
    command = substitute(
        command,
        {
            "DEPLOYUNITS_PORT=8090": f"DEPLOYUNITS_PORT={port}",
            ".dev/kubeconfig": str(cluster.kubeconfig),
            ".venv/bin/": f"{VENV_BIN}/",
        },
    )
    log = tmp_path / "token-shim.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            ["bash", "-c", command],
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
    try:
        wait_for(
            lambda: process.poll() is None and _answers(f"http://127.0.0.1:{port}/readyz"),
            60,
            f"the README's kubernetes-mode shim; log:\n{log.read_text(errors='replace')}",
        )
        yield port
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def run_walkthrough(
    cluster: Cluster, workdir: Path, replacements: dict[str, str]
) -> dict[str, str]:
    """Run every walkthrough block in one bash; the output of each block, keyed by its source."""
    sources = blocks("sh walkthrough")
    assert len(sources) >= 5, "the README lost its walkthrough blocks"
    script = "set -euo pipefail\n"
    for number, source in enumerate(sources):
        script += f"echo '::block {number}::'\n{source}"
    script = substitute(script, replacements)
    env = {
        **os.environ,
        "KUBECONFIG": str(cluster.kubeconfig),
        "PATH": os.pathsep.join(
            [str(cluster.kubectl_path.parent), str(VENV_BIN), os.environ.get("PATH", "")]
        ),
    }
    result = subprocess.run(
        ["bash", "-x", "-c", script],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, (
        f"walkthrough failed ({result.returncode}):\n{result.stdout}\n--- stderr\n{result.stderr}"
    )
    outputs = re.split(r"::block \d+::\n", result.stdout)[1:]
    assert len(outputs) == len(sources), result.stdout
    return dict(zip(sources, outputs, strict=True))


def output_of(outputs: dict[str, str], command: str) -> str:
    """The output of the one block whose source contains `command`."""
    (found,) = [out for source, out in outputs.items() if command in source]
    return found


def test_the_walkthrough_runs(
    cluster: Cluster,
    operator: OperatorProcess,
    demo_namespace: str,
    local_shim: ShimProcess,
    token_shim: int,
    workdir: Path,
) -> None:
    outputs = run_walkthrough(
        cluster,
        workdir,
        {
            "NS=bpm-demo\n": f"NS={demo_namespace}\n",
            "127.0.0.1:8080": f"127.0.0.1:{local_shim.port}",
            "127.0.0.1:8081": f"127.0.0.1:{operator.probe_port}",
            "127.0.0.1:8090": f"127.0.0.1:{token_shim}",
        },
    )

    # GitOps: the first sync, the edit (new ConfigMap, new job, new versions), the Redeploy.
    first = output_of(outputs, "kubectl create namespace $NS")
    assert "deploymentunit.bpm.deployunits.io/invoice condition met" in first
    assert first.splitlines()[-1] == "1 1"
    edited = output_of(outputs, "sed -i")
    assert re.search(r"^configmap/invoice-processes-\w+ created$", edited, re.MULTILINE)
    assert "deploymentunit.bpm.deployunits.io/invoice configured" in edited
    assert edited.splitlines()[-1] == "2 2"
    unit = cluster.get("du", "invoice", demo_namespace)
    assert unit["status"]["job"]["identifier"] == "2"
    redeployed = output_of(outputs, "kind: Redeploy")
    assert "redeploy.bpm.deployunits.io/invoice-again condition met" in redeployed
    new_id, versions = redeployed.splitlines()[-1].split(" ")
    assert versions == "3"
    assert new_id != "invoice-1"

    # Auth mode none: Camunda (default engine and named engine) and jBPM without a token.
    camunda = output_of(outputs, "/engine-rest/deployment/count")
    assert '{"count":' in camunda
    assert '"name":"invoice-rest"' in camunda
    assert '"deployedProcessDefinitions":{"invoice:' in camunda
    assert '"id":"invoice-1"' in camunda  # the GitOps unit, listed through the named engine
    jbpm_out = output_of(outputs, "/business-central/rest/deployment/")
    assert '"deploymentUnitList":' in jbpm_out
    assert '"operation":"DEPLOY"' in jbpm_out
    assert '"artifactId":"orders-kjar"' in jbpm_out

    # Auth mode kubernetes: 401 without a token; a ServiceAccount token with deployunits-edit.
    tokens = output_of(outputs, "kubectl create token ci")
    assert re.search(r"^401$", tokens, re.MULTILINE)
    assert "Exception" not in tokens, tokens
    assert '{"count":' in tokens
    assert '"name":"invoice-ci"' in tokens

    # Status: every unit (the jBPM kjar too) Ready; conditions, events and both metrics.
    status = output_of(outputs, "kubectl get du -o wide")
    assert "Ready=True Deployed:" in status
    assert "Stalled=False" in status
    assert "SourceDrifted=False" in status
    assert "deploymentunit/invoice" in status  # an event
    assert "deployunits_reconciles_total" in status
    assert "deployunits_shim_" in status
    units: dict[str, Any] = yaml.safe_load(
        cluster.kubectl("get", "du", "-n", demo_namespace, "-o", "yaml").stdout
    )
    items = units["items"]
    # invoice and its redeployment, the two uploads, and the kjar (jBPM units have no name).
    names = sorted(u["spec"].get("name", "") for u in items)
    assert names == ["", "invoice", "invoice", "invoice-ci", "invoice-rest"]
    assert status.count("condition met") == len(items)
    (kjar,) = [u for u in items if u["spec"]["deploymentId"] == "com.example:orders-kjar:1.0.0"]
    assert kjar["status"]["status"] == "DEPLOYED"
