"""From `git push` to Flux and Argo CD reporting healthy, for 1 and for 100 units (issue 18).

Runs the real Flux (source- and kustomize-controller) and Argo CD (repo-server and
application-controller) of `devcluster.gitops` against a control plane of its own, with the
operator, syncing a Git folder served over smart HTTP. For each tool and each size: a folder of N
units (each a BPMN in a hashed ConfigMap, as examples/gitops) is pushed, a refresh is asked for
(what a Git webhook does), and the benchmark polls until the tool reports the commit healthy
(Flux's Kustomization `Ready=True`, which `wait: true` holds until every unit is Ready; Argo CD's
Application `Synced` at the commit and `Healthy`). Beside it, the operator's part: from the first
unit seen to the last unit Ready. Then the folder is emptied and pruned before the next size.

    .venv/bin/python bench/gitops_sync.py [--sizes 1,100] [--tools flux,argocd]

Prints figures only; needs `make gitops` (built once) and `make redis`.
"""

import argparse
import json
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from devcluster import binaries, install
from devcluster.gitops_controllers import ArgoCD, Flux, Kube
from devcluster.gitserver import GitFolder, GitServer
from devcluster.plane import ControlPlane
from devcluster.processes import OperatorProcess

EXAMPLE = install.REPO / "examples" / "gitops"
NAME = "bench-units"
POLL_SECONDS = 0.2


def write_units(folder: Path, count: int) -> None:
    """The folder holds `count` units (none: one placeholder ConfigMap, so it still renders)."""
    for child in folder.iterdir():
        if child.name != ".git":
            shutil.rmtree(child) if child.is_dir() else child.unlink()
    kustomization: dict[str, Any] = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "configurations": ["kustomizeconfig.yaml"],
        "resources": [],
    }
    shutil.copy(EXAMPLE / "kustomizeconfig.yaml", folder)
    if count == 0:
        (folder / "placeholder.yaml").write_text(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: placeholder\n"
        )
        kustomization["resources"] = ["placeholder.yaml"]
    bpmn = (EXAMPLE / "processes" / "invoice.bpmn").read_text()
    (folder / "processes").mkdir(exist_ok=True)
    generators = []
    for index in range(count):
        name = f"unit-{index}"
        (folder / "processes" / f"{name}.bpmn").write_text(
            bpmn.replace('process id="invoice"', f'process id="invoice_{index}"')
        )
        generators.append({"name": f"{name}-processes", "files": [f"processes/{name}.bpmn"]})
        unit = {
            "apiVersion": "bpm.deployunits.io/v1alpha1",
            "kind": "DeploymentUnit",
            "metadata": {"name": name},
            "spec": {
                "deploymentId": name,
                "source": "gitops-bench",
                "resources": {"configMaps": [{"name": f"{name}-processes"}]},
            },
        }
        (folder / f"{name}.yaml").write_text(yaml.safe_dump(unit))
        kustomization["resources"].append(f"{name}.yaml")
    if generators:
        kustomization["configMapGenerator"] = generators
    (folder / "kustomization.yaml").write_text(yaml.safe_dump(kustomization, sort_keys=False))


def units_state(kube: Kube, namespace: str) -> tuple[int, int]:
    """(units that exist, units Ready=True at their current generation)."""
    items = json.loads(kube.run("get", "deploymentunits", "-n", namespace, "-o", "json"))["items"]
    ready = 0
    for unit in items:
        status = unit.get("status") or {}
        current = status.get("observedGeneration") == unit["metadata"].get("generation")
        conditions = {c["type"]: c["status"] for c in status.get("conditions", [])}
        ready += current and conditions.get("Ready") == "True"
    return len(items), ready


def measure(
    kube: Kube,
    namespace: str,
    folder: GitFolder,
    count: int,
    refresh: Callable[[], None],
    healthy_at: Callable[[str], bool],
    timeout: float = 600,
) -> dict[str, float]:
    """Write and push `count` units; poll until the tool calls the commit healthy and every unit
    is Ready (or, for 0, gone). Seconds from the push to each."""
    write_units(folder.path, count)
    commit = folder.commit_and_push(f"{count} units")
    pushed = time.monotonic()
    refresh()
    first_seen = all_ready = tool_healthy = None
    while time.monotonic() - pushed < timeout:
        now = time.monotonic()
        existing, ready = units_state(kube, namespace)
        if first_seen is None and existing:
            first_seen = now
        if all_ready is None and existing == count and ready == count:
            all_ready = now
        if tool_healthy is None and healthy_at(commit):
            tool_healthy = now
        if all_ready is not None and tool_healthy is not None:
            break
        time.sleep(POLL_SECONDS)
    else:
        raise RuntimeError(f"{count} units: not healthy within {timeout} s")
    assert all_ready is not None and tool_healthy is not None
    figures = {"push_to_tool_healthy_s": round(tool_healthy - pushed, 2)}
    if count:
        assert first_seen is not None
        figures["push_to_all_units_ready_s"] = round(all_ready - pushed, 2)
        figures["operator_first_unit_to_last_ready_s"] = round(all_ready - first_seen, 2)
    return figures


def sizes_in_turn(
    kube: Kube,
    namespace: str,
    folder: GitFolder,
    sizes: list[int],
    tool: str,
    refresh: Callable[[], None],
    healthy_at: Callable[[str], bool],
) -> dict[str, dict[str, float]]:
    """Each size pushed, then pruned again; the figures of each push."""
    results = {}
    for count in sizes:
        for label, size in ((f"{count} units", count), (f"{count} units pruned", 0)):
            results[label] = measure(kube, namespace, folder, size, refresh, healthy_at)
            print(f"{tool}, {label}: {results[label]}", flush=True)
    return results


def empty_repository(server: GitServer, name: str, work: Path) -> GitFolder:
    folder = server.repository(name, EXAMPLE, work / f"{name}-checkout")
    write_units(folder.path, 0)
    folder.commit_and_push("Start empty")
    return folder


def run_flux(
    kube: Kube, server: GitServer, work: Path, sizes: list[int]
) -> dict[str, dict[str, float]]:
    namespace = "bench-flux"
    kube.run("create", "namespace", namespace)
    folder = empty_repository(server, "flux", work)
    (work / "flux").mkdir()
    flux = Flux(kube, work / "flux", namespace)
    try:
        flux.start()
        flux.sync(NAME, namespace, folder.url)
        return sizes_in_turn(
            kube,
            namespace,
            folder,
            sizes,
            "flux",
            lambda: flux.refresh(NAME, namespace),
            lambda commit: flux.ready_at(NAME, namespace, commit) == "True",
        )
    finally:
        flux.stop()


def run_argocd(
    kube: Kube, server: GitServer, work: Path, sizes: list[int]
) -> dict[str, dict[str, float]]:
    namespace, home = "bench-argocd", "argocd"
    kube.run("create", "namespace", namespace)
    kube.run("create", "namespace", home)
    folder = empty_repository(server, "argocd", work)
    (work / "argocd").mkdir()
    argocd = ArgoCD(kube, work / "argocd", home)
    try:
        argocd.start()
        argocd.sync(NAME, folder.url, namespace)
        return sizes_in_turn(
            kube,
            namespace,
            folder,
            sizes,
            "argocd",
            lambda: argocd.refresh(NAME),
            lambda commit: argocd.health_at(NAME, commit) == "Healthy",
        )
    finally:
        argocd.stop()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1,100", help="unit counts, comma-separated")
    parser.add_argument("--tools", default="flux,argocd")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    tools = args.tools.split(",")
    started = time.monotonic()
    results: dict[str, Any] = {}
    with (
        ControlPlane(binaries.ensure_built()) as plane,
        tempfile.TemporaryDirectory() as scratch,
    ):
        work = Path(scratch)
        kube = Kube(binaries.kubectl(), plane.kubeconfig)
        install.install_crds(kube.kubectl, kube.kubeconfig, admission=True)
        (work / "served").mkdir()
        server = GitServer(work / "served")
        server.start()
        operator = OperatorProcess(plane.kubeconfig, work / "operator.log")
        try:
            operator.start(timeout=120)
            if "flux" in tools:
                results["flux"] = run_flux(kube, server, work, sizes)
            if "argocd" in tools:
                results["argocd"] = run_argocd(kube, server, work, sizes)
        finally:
            operator.stop()
            server.stop()
    print(json.dumps(results, indent=2))
    print(f"(whole run {time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
