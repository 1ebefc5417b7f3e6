"""Flux syncs `examples/gitops` from a Git server: the real source- and kustomize-controller.

The controllers (pinned in devcluster.gitops) run as plain processes against the test cluster;
the Git folder is served over smart HTTP by the test. The Kustomization is the project's own
`manifests/flux/bpm-units.yaml` (its `wait`, `prune` and `healthCheckExprs`), pointed at the test
repository and namespace.

The tests of this module run in order on one repository, as a user's history would:
first sync → unit Ready, Kustomization Ready; a default ProcessEngine committed → the unit in the
test engine; an edited BPMN → a new hashed ConfigMap, the old one pruned, versions 2 2 (the
engine's own); a broken BPMN → Ready=False HealthCheckFailed and the unit Stalled with the
operator's message; fixed again → Ready; a Redeploy committed → Succeeded and Ready; the unit
removed from Git → pruned, its finalizer's undeploy done (its deployment gone from the engine).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import yaml

from devcluster.gitops_controllers import Flux, Kube
from devcluster.processes import OperatorProcess
from tests.support import gitops
from tests.support.cluster import Cluster, condition
from tests.support.engine import RunningEngine, call, engine_auth_secret
from tests.support.gitops import (
    BPMN,
    NAME,
    add_engine,
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
    """The synced repository, with Flux."""

    flux: Flux
    #: The unit's deployment in the test engine, once a ProcessEngine is committed.
    engine_deployment: str | None = None

    def refresh(self) -> None:
        """source-controller fetches now (`flux reconcile source git`)."""
        self.flux.refresh(NAME, self.namespace)

    def kustomization(self) -> dict[str, Any]:
        return self.flux.kustomization(NAME, self.namespace)

    def applied(self, commit: str, ready: str, timeout: float = 120) -> dict[str, Any]:
        """Wait until the Kustomization has acted on `commit` and its Ready is `ready`."""

        def probe() -> dict[str, Any] | None:
            if self.flux.ready_at(NAME, self.namespace, commit) == ready:
                return self.kustomization()
            return None

        return self.wait(
            probe,
            timeout,
            lambda: (
                f"Kustomization at {commit} Ready={ready}:\n"
                f"{yaml.safe_dump(self.kustomization().get('status'))}\n{self.flux.logs()}"
            ),
        )


@pytest.fixture(scope="module")
def synced(
    cluster: Cluster,
    operator: OperatorProcess,
    space: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Synced]:
    """Flux running, a repository holding examples/gitops, and the GitRepository and
    Kustomization that sync it into the module's namespace."""
    work = tmp_path_factory.mktemp("flux")
    with served_examples(work) as folder:
        flux = Flux(Kube(cluster.kubectl_path, cluster.kubeconfig), work, space)
        try:
            flux.start()
            flux.sync(NAME, space, folder.url)
            yield Synced(cluster, space, folder, operator, flux)
        finally:
            flux.stop()


def test_first_sync_deploys_the_unit_and_flux_reports_ready(synced: Synced) -> None:
    commit, pushed = synced.push("Sync again")
    synced.applied(commit, "True")
    print(f"\nFlux: git push to Ready with 1 unit: {time.monotonic() - pushed:.1f} s")
    unit = synced.unit()
    assert unit is not None
    assert condition(unit, "Ready")["status"] == "True"  # type: ignore[index]
    assert [d["version"] for d in unit["status"]["definitions"]] == [1, 1]
    assert len(configmaps(synced.cluster, synced.namespace)) == 1


def engine_synced(synced: Synced) -> dict[str, Any]:
    """The unit once the operator has pushed its current generation to the engine."""

    def probe() -> dict[str, Any] | None:
        unit = synced.unit()
        synced_to = condition(unit, "EngineSynced") if unit else None
        if unit is None or synced_to is None or synced_to["status"] != "True":
            return None
        return (
            unit
            if unit["status"].get("observedGeneration") == unit["metadata"]["generation"]
            else None
        )

    return eventually(probe, 60, lambda: f"not EngineSynced: {(synced.unit() or {}).get('status')}")


def test_a_processengine_committed_to_git_takes_the_unit_to_the_engine(
    synced: Synced, camunda7: RunningEngine
) -> None:
    engine_auth_secret(synced.cluster, synced.namespace, camunda7)
    add_engine(synced.folder, camunda7)
    commit, pushed = synced.push("Deploy the units to the Camunda engine")
    synced.applied(commit, "True")
    unit = engine_synced(synced)
    print(f"\nFlux: git push to the unit in the engine: {time.monotonic() - pushed:.1f} s")
    deployment_id = unit["status"]["engine"]["deploymentId"]
    synced.engine_deployment = deployment_id
    in_engine = call(camunda7.connection(), lambda client: client.definitions(deployment_id))
    engine_keys = sorted((d.key, d.version) for d in [*in_engine.processes, *in_engine.decisions])
    assert engine_keys == sorted((d["key"], d["version"]) for d in unit["status"]["definitions"])


def test_an_edited_bpmn_deploys_new_versions_and_prunes_the_old_configmap(
    synced: Synced, camunda7: RunningEngine
) -> None:
    before = configmaps(synced.cluster, synced.namespace)
    edit_bpmn(synced.folder)
    commit, pushed = synced.push("Rename the approval task")
    synced.applied(commit, "True")
    print(f"\nFlux: git push to Ready with the edited unit: {time.monotonic() - pushed:.1f} s")
    after = configmaps(synced.cluster, synced.namespace)
    assert len(after) == 1 and after != before, (before, after)
    unit = synced.unit()
    assert unit is not None
    assert unit["spec"]["resources"]["configMaps"][0]["name"] == after[0]
    assert [d["version"] for d in unit["status"]["definitions"]] == [2, 2]
    # The engine holds the edit as its own version 2.
    unit = engine_synced(synced)
    deployment_id = unit["status"]["engine"]["deploymentId"]
    assert deployment_id != synced.engine_deployment
    synced.engine_deployment = deployment_id
    processes = call(
        camunda7.connection(), lambda client: client.process_definitions(deployment_id)
    )
    assert [p.version for p in processes] == [2]


def test_a_broken_bpmn_fails_the_health_check_with_the_units_message(synced: Synced) -> None:
    good = (synced.folder.path / BPMN).read_text()
    break_bpmn(synced.folder)
    commit, _ = synced.push("Break the process")
    found = synced.applied(commit, "False")
    ready = condition(found, "Ready")
    assert ready is not None and ready["reason"] == "HealthCheckFailed", ready
    assert "DeploymentUnit" in ready["message"] and "invoice" in ready["message"], ready
    unit = synced.unit()
    assert unit is not None
    stalled = condition(unit, "Stalled")
    assert stalled is not None and stalled["status"] == "True", unit["status"]
    assert "invoice.bpmn" in stalled["message"], stalled

    (synced.folder.path / BPMN).write_text(good)
    commit, _ = synced.push("Mend the process")
    synced.applied(commit, "True")


def test_a_redeploy_committed_to_git_succeeds_and_flux_waits_for_it(synced: Synced) -> None:
    add_redeploy(synced.folder)
    commit, _ = synced.push("Redeploy the invoice process")
    synced.applied(commit, "True")
    found = get_json(synced.cluster, "redeploy", "invoice-again", synced.namespace)
    assert found is not None
    assert condition(found, "Succeeded")["status"] == "True", found["status"]  # type: ignore[index]


def test_a_unit_removed_from_git_is_pruned_after_its_undeploy(
    synced: Synced, camunda7: RunningEngine
) -> None:
    remove_units(synced.folder)
    commit, _ = synced.push("Remove the unit")
    synced.applied(commit, "True")
    synced.wait_until_pruned()
    assert configmaps(synced.cluster, synced.namespace) == []
    # The finalizer's undeploy took the unit's deployment out of the engine.
    deployment_id = synced.engine_deployment
    assert deployment_id is not None
    gone = call(camunda7.connection(), lambda client: client.deployment(deployment_id))
    assert gone is None, gone
