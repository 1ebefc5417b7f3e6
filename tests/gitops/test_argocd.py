"""Argo CD syncs `examples/gitops` from a Git server: the real repo-server and
application-controller, with the project's `manifests/argocd/health.lua` as the health check.

Argo CD runs as plain processes (one `argocd` binary, Debian's redis-server) against the test
cluster; the Git folder is served over smart HTTP by the test. The Application syncs
automatically with prune; after each push the test asks for a refresh, as Git's webhook would.

The tests of this module run in order on one repository: first sync → Synced/Healthy, unit
Ready; an edited BPMN → a new hashed ConfigMap, the old one pruned, versions 2 2; a broken BPMN →
Degraded with the operator's message; fixed again → Healthy; a Redeploy committed → Healthy once
it Succeeded; the unit removed from Git → pruned, its finalizer's undeploy done.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import yaml

from devcluster.gitops_controllers import ArgoCD, Kube
from devcluster.processes import OperatorProcess
from tests.support import gitops
from tests.support.cluster import Cluster, condition
from tests.support.gitops import (
    BPMN,
    NAME,
    add_redeploy,
    break_bpmn,
    configmaps,
    edit_bpmn,
    eventually,
    get_json,
    remove_units,
    served_examples,
)


@dataclass
class Synced(gitops.Synced):
    """The synced repository, with Argo CD."""

    argocd: ArgoCD

    def refresh(self) -> None:
        """A hard refresh of the Application."""
        self.argocd.refresh(NAME)

    def application(self) -> dict[str, Any]:
        return self.argocd.application(NAME)

    def synced(self, commit: str, health: str, timeout: float = 120) -> dict[str, Any]:
        """Wait until the Application is Synced at `commit` with that health."""

        def probe() -> dict[str, Any] | None:
            if self.argocd.health_at(NAME, commit) == health:
                return dict(self.application()["status"])
            return None

        return self.wait(
            probe,
            timeout,
            lambda: (
                f"Application Synced at {commit} and {health}:\n"
                f"{yaml.safe_dump(self.application().get('status'))}\n{self.argocd.logs()}"
            ),
        )


@pytest.fixture(scope="module")
def synced(
    cluster: Cluster,
    operator: OperatorProcess,
    space: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Synced]:
    """Argo CD running, a repository holding examples/gitops, and an Application that syncs it
    into the module's namespace (automated, with prune)."""
    work = tmp_path_factory.mktemp("argocd")
    with served_examples(work) as folder, cluster.scratch_namespace("argocd") as home:
        argocd = ArgoCD(Kube(cluster.kubectl_path, cluster.kubeconfig), work, home)
        try:
            argocd.start()
            argocd.sync(NAME, folder.url, space)
            yield Synced(cluster, space, folder, operator, argocd)
        finally:
            argocd.stop()


def test_first_sync_deploys_the_unit_and_argocd_reports_healthy(synced: Synced) -> None:
    commit, pushed = synced.push("Sync again")
    synced.synced(commit, "Healthy")
    print(f"\nArgo CD: git push to Synced/Healthy with 1 unit: {time.monotonic() - pushed:.1f} s")
    unit = synced.unit()
    assert unit is not None
    assert condition(unit, "Ready")["status"] == "True"  # type: ignore[index]
    assert [d["version"] for d in unit["status"]["definitions"]] == [1, 1]
    assert len(configmaps(synced.cluster, synced.namespace)) == 1


def test_an_edited_bpmn_deploys_new_versions_and_prunes_the_old_configmap(
    synced: Synced,
) -> None:
    before = configmaps(synced.cluster, synced.namespace)
    edit_bpmn(synced.folder)
    commit, pushed = synced.push("Rename the approval task")
    synced.synced(commit, "Healthy")
    print(f"\nArgo CD: git push to Healthy with the edited unit: {time.monotonic() - pushed:.1f} s")
    after = eventually(
        lambda: (lambda found: found if found != before and len(found) == 1 else None)(
            configmaps(synced.cluster, synced.namespace)
        ),
        30,
        lambda: f"one new ConfigMap instead of {before}",
    )
    unit = synced.unit()
    assert unit is not None
    assert unit["spec"]["resources"]["configMaps"][0]["name"] == after[0]
    assert [d["version"] for d in unit["status"]["definitions"]] == [2, 2]


def test_a_broken_bpmn_degrades_the_application_with_the_units_message(synced: Synced) -> None:
    good = (synced.folder.path / BPMN).read_text()
    break_bpmn(synced.folder)
    commit, _ = synced.push("Break the process")
    status = synced.synced(commit, "Degraded")
    unit = synced.unit()
    assert unit is not None
    stalled = condition(unit, "Stalled")
    assert stalled is not None and stalled["status"] == "True", unit["status"]
    health = [r.get("health", {}) for r in status["resources"] if r["kind"] == "DeploymentUnit"]
    assert health == [{"status": "Degraded", "message": stalled["message"]}], health

    (synced.folder.path / BPMN).write_text(good)
    commit, _ = synced.push("Mend the process")
    synced.synced(commit, "Healthy")


def test_a_redeploy_committed_to_git_succeeds_and_argocd_reports_healthy(synced: Synced) -> None:
    add_redeploy(synced.folder)
    commit, _ = synced.push("Redeploy the invoice process")
    status = synced.synced(commit, "Healthy")
    found = get_json(synced.cluster, "redeploy", "invoice-again", synced.namespace)
    assert found is not None
    assert condition(found, "Succeeded")["status"] == "True", found["status"]  # type: ignore[index]
    kinds = {r["kind"]: r.get("health", {}).get("status") for r in status["resources"]}
    assert kinds["Redeploy"] == "Healthy", kinds


def test_a_unit_removed_from_git_is_pruned_after_its_undeploy(synced: Synced) -> None:
    remove_units(synced.folder)
    commit, _ = synced.push("Remove the unit")
    synced.synced(commit, "Healthy")
    synced.wait_until_pruned()
    assert configmaps(synced.cluster, synced.namespace) == []
