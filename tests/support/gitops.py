"""What the GitOps tests share: the synced repository and what a test does with it, waiting,
reading objects, and the edits they commit to Git.

The controllers themselves (`devcluster.gitops_controllers`) and the Git server
(`devcluster.gitserver`) are in the dev kit, which the GitOps benchmark uses too.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml

from devcluster.gitserver import GitFolder, GitServer
from devcluster.processes import OperatorProcess
from tests.support.cluster import REPO, Cluster
from tests.support.engine import RunningEngine, engine_manifest

T = TypeVar("T")


def eventually(probe: Callable[[], T | None], timeout: float, what: Callable[[], str]) -> T:
    """Poll `probe` every half second until it returns something; fail with `what()` after
    `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found is not None:
            return found
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout}s: {what()}")


def get_json(cluster: Cluster, kind: str, name: str, namespace: str) -> dict[str, Any] | None:
    """One object, or None when it does not exist."""
    result = cluster.kubectl("get", kind, name, "-n", namespace, "-o", "json", check=False)
    if result.returncode != 0:
        return None
    found: dict[str, Any] = json.loads(result.stdout)
    return found


#: The name of the tool's objects (Flux's GitRepository and Kustomization, Argo CD's Application).
NAME = "bpm-units"


@contextlib.contextmanager
def served_examples(work: Path) -> Iterator[GitFolder]:
    """A Git server serving a repository that holds examples/gitops, checked out under `work`."""
    (work / "served").mkdir()
    server = GitServer(work / "served")
    server.start()
    try:
        yield server.repository("units", REPO / "examples/gitops", work / "checkout")
    finally:
        server.stop()


@dataclass
class Synced:
    """What a test needs: the cluster, the namespace the tool applies to, the Git working copy,
    the operator. Each tool's own says how it is asked to look at Git, and what it reports."""

    cluster: Cluster
    namespace: str
    folder: GitFolder
    operator: OperatorProcess

    def refresh(self) -> None:
        """Ask the tool to look at Git now, as Git's webhook would."""
        raise NotImplementedError

    def push(self, message: str) -> tuple[str, float]:
        """Commit and push, then ask for a refresh; the commit and when it was pushed."""
        commit = self.folder.commit_and_push(message)
        pushed = time.monotonic()
        self.refresh()
        return commit, pushed

    def wait(self, probe: Callable[[], T | None], timeout: float, what: Callable[[], str]) -> T:
        """`eventually`, failing with the operator's log after `what()`."""
        return eventually(probe, timeout, lambda: f"{what()}\noperator:\n{self.operator.tail()}")

    def unit(self) -> dict[str, Any] | None:
        return get_json(self.cluster, "du", "invoice", self.namespace)

    def wait_until_pruned(self) -> None:
        """The unit is gone, which it is only once the operator's finalizer has undeployed it."""
        eventually(
            lambda: True if self.unit() is None else None,
            60,
            lambda: f"unit still there:\n{yaml.safe_dump((self.unit() or {}).get('metadata'))}",
        )


#: The process file the tests edit, in the Git folder.
BPMN = Path("processes/invoice.bpmn")


def configmaps(cluster: Cluster, namespace: str) -> list[str]:
    """The names of the unit's generated ConfigMaps (name plus content hash)."""
    out = cluster.kubectl("get", "configmaps", "-n", namespace, "-o", "name").stdout
    return sorted(n.removeprefix("configmap/") for n in out.split() if "invoice-processes" in n)


def edit_bpmn(folder: GitFolder) -> None:
    """A valid change: the approval task's new name (the README's walkthrough edit)."""
    bpmn = folder.path / BPMN
    text = bpmn.read_text()
    assert 'name="Approve invoice"' in text
    bpmn.write_text(text.replace('name="Approve invoice"', 'name="Approve the invoice"'))


def break_bpmn(folder: GitFolder) -> None:
    """Malformed XML: the process's end tag misspelt."""
    bpmn = folder.path / BPMN
    bpmn.write_text(bpmn.read_text().replace("</process>", "</proces>", 1))


def add_redeploy(folder: GitFolder) -> None:
    """The sample Redeploy (of the folder's unit) added to the folder's resources."""
    (folder.path / "redeploy.yaml").write_text(
        (REPO / "manifests/samples/redeploy.yaml").read_text()
    )
    _edit_kustomization(folder, lambda k: k["resources"].append("redeploy.yaml"))


def add_engine(folder: GitFolder, camunda7: RunningEngine) -> None:
    """The test engine as the namespace's default ProcessEngine, committed to the folder; its
    credentials Secret stays out of Git (created beside it, as a sealed or external secret
    would be)."""
    (folder.path / "engine.yaml").write_text(engine_manifest(camunda7, default=True).lstrip())
    _edit_kustomization(folder, lambda k: k["resources"].append("engine.yaml"))


def remove_units(folder: GitFolder) -> None:
    """Everything the project owns taken out of the folder; one placeholder ConfigMap stays, so
    that the folder still renders to something."""
    (folder.path / "placeholder.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: placeholder\n"
    )

    def edit(kustomization: dict[str, Any]) -> None:
        kustomization.pop("configMapGenerator")
        kustomization["resources"] = ["placeholder.yaml"]

    _edit_kustomization(folder, edit)


def _edit_kustomization(folder: GitFolder, edit: Callable[[dict[str, Any]], None]) -> None:
    path = folder.path / "kustomization.yaml"
    kustomization: dict[str, Any] = yaml.safe_load(path.read_text())
    edit(kustomization)
    path.write_text(yaml.safe_dump(kustomization, sort_keys=False))
