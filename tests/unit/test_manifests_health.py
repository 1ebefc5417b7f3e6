"""GitOps health of hand-made status objects: Argo CD's Lua, kstatus and Flux's CEL agree.

Each case is a DeploymentUnit or Redeploy in one state, with what Argo CD (health.lua in a real
Lua 5.1 runtime), kstatus (cli-utils rules) and Flux (healthCheckExprs in a real CEL
interpreter) make of it. The branches of health.lua: being deleted; generation not yet
observed (status missing, observedGeneration missing or behind); Stalled=True; Reconciling=True;
Ready=True (deployed or undeployed) and Succeeded=True (Redeploy); anything else. Where the
tools differ the case says why. Also: the argocd-cm patch holds exactly health.lua under the
keys Argo CD reads, the Lua needs no library Argo CD leaves closed, and the Flux example covers
both kinds of the API.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from deployunits import constants
from tests.support.health import (
    HEALTH_LUA,
    FluxError,
    KStatus,
    argocd_health,
    flux_expressions,
    flux_health,
    kstatus,
)

REPO = Path(__file__).resolve().parents[2]
NOW = "2026-01-01T00:00:00Z"


def condition(type_: str, status: str, reason: str = "Reason", message: str = "") -> dict[str, str]:
    return {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": NOW,
    }


def obj(
    kind: str = "DeploymentUnit",
    *,
    generation: int = 1,
    observed: int | None = 1,
    conditions: list[dict[str, str]] | None = None,
    deleting: bool = False,
    status: bool = True,
) -> dict[str, Any]:
    """An object as `kubectl get -o json` shows it."""
    metadata: dict[str, Any] = {"name": "x", "namespace": "ns", "generation": generation}
    if deleting:
        metadata["deletionTimestamp"] = NOW
    body: dict[str, Any] = {"apiVersion": constants.API_VERSION, "kind": kind, "metadata": metadata}
    if status:
        body["status"] = {"conditions": conditions or []}
        if observed is not None:
            body["status"]["observedGeneration"] = observed
    return body


DEPLOYED = [
    condition("Ready", "True", "Deployed", "Deployed 2 resource(s)."),
    condition("Deployed", "True", "Deployed", "Deployed 2 resource(s)."),
    condition("Reconciling", "False", "JobFinished"),
    condition("Stalled", "False", "NoFailure"),
]
FAILED = [
    condition("Ready", "False", "InvalidContent", "resource name(s) given twice: a.bpmn"),
    condition("Deployed", "False", "InvalidContent", "resource name(s) given twice: a.bpmn"),
    condition("Reconciling", "False", "JobFailed"),
    condition("Stalled", "True", "InvalidContent", "resource name(s) given twice: a.bpmn"),
]
WAITING = [
    condition("Ready", "False", "WaitingForContent", "ConfigMap 'm' not found; waiting for it"),
    condition("Reconciling", "True", "WaitingForContent", "ConfigMap 'm' not found; waiting"),
    condition("Stalled", "False", "NoFailure"),
]
UNDEPLOYED = [
    condition("Ready", "True", "Undeployed", "The unit is undeployed as desired."),
    condition("Deployed", "False", "Undeployed", "The unit is undeployed."),
    condition("Reconciling", "False", "JobFinished"),
    condition("Stalled", "False", "NoFailure"),
]
REDEPLOYED = [
    condition("Succeeded", "True", "Created", "Created deployment invoice-2."),
    condition("Reconciling", "False", "Done"),
    condition("Stalled", "False", "NoFailure"),
]
REDEPLOY_REFUSED = [
    condition("Succeeded", "False", "NotFound", "Deployment with id 'nope' does not exist"),
    condition("Reconciling", "False", "Done"),
    condition("Stalled", "True", "NotFound", "Deployment with id 'nope' does not exist"),
]
REDEPLOYING = [
    condition("Succeeded", "Unknown", "Creating", "Creating the new deployment."),
    condition("Reconciling", "True", "Creating", "Creating the new deployment."),
]

#: Flux cannot evaluate an expression over a field that does not exist: status Unknown, retried.
UNKNOWN = "Unknown"


@dataclass(frozen=True)
class Case:
    """One object and what each tool reports for it."""

    name: str
    body: dict[str, Any]
    argocd: str
    message: str
    kstatus: KStatus
    flux: KStatus | str


CASES = [
    Case("deployed", obj(conditions=DEPLOYED), "Healthy", "Deployed 2 resource(s).",
         KStatus.CURRENT, KStatus.CURRENT),
    Case("undeployed as desired", obj(conditions=UNDEPLOYED), "Healthy", "undeployed as desired",
         KStatus.CURRENT, KStatus.CURRENT),
    Case("failed job", obj(conditions=FAILED), "Degraded", "given twice: a.bpmn",
         KStatus.FAILED, KStatus.FAILED),
    Case("waiting for content", obj(conditions=WAITING), "Progressing", "not found",
         KStatus.IN_PROGRESS, KStatus.IN_PROGRESS),
    Case("being deleted", obj(conditions=DEPLOYED, deleting=True), "Progressing", "deleted",
         KStatus.TERMINATING, KStatus.IN_PROGRESS),
    Case("new generation not observed yet", obj(generation=2, observed=1, conditions=DEPLOYED),
         "Progressing", "generation 2", KStatus.IN_PROGRESS, KStatus.IN_PROGRESS),
    Case("stale failure of an older generation",
         obj(generation=3, observed=2, conditions=FAILED), "Progressing", "generation 3",
         KStatus.IN_PROGRESS, KStatus.IN_PROGRESS),
    # kstatus and Flux read observedGeneration only when it exists; Argo and the Flux
    # expressions do not take a missing one for "observed".
    Case("no observedGeneration", obj(observed=None, conditions=DEPLOYED), "Progressing",
         "generation 1", KStatus.CURRENT, KStatus.IN_PROGRESS),
    # Before the operator's first pass: kstatus has nothing to go on and says Current; Flux's
    # expressions cannot read `status` yet.
    Case("no status yet", obj(status=False), "Progressing", "observe the object",
         KStatus.CURRENT, UNKNOWN),
    Case("no conditions yet", obj(conditions=[]), "Progressing", "Waiting for Ready",
         KStatus.CURRENT, KStatus.IN_PROGRESS),
    Case("ready false without a job running", obj(conditions=[condition("Ready", "False",
         "Deploying", "Deploying.")]), "Progressing", "Deploying.",
         KStatus.IN_PROGRESS, KStatus.IN_PROGRESS),
    # Argo puts a failure first; kstatus takes whichever of the two conditions is listed first.
    Case("stalled and reconciling at once", obj(conditions=[
         condition("Reconciling", "True", "Retrying", "Retrying."),
         condition("Stalled", "True", "Broken", "Broken.")]), "Degraded", "Broken.",
         KStatus.IN_PROGRESS, KStatus.IN_PROGRESS),
    Case("stalled without a message", obj(conditions=[condition("Stalled", "True", "Broken")]),
         "Degraded", "Broken", KStatus.FAILED, KStatus.FAILED),
    Case("redeploy succeeded", obj("Redeploy", conditions=REDEPLOYED), "Healthy",
         "Created deployment invoice-2.", KStatus.CURRENT, KStatus.CURRENT),
    Case("redeploy refused", obj("Redeploy", conditions=REDEPLOY_REFUSED), "Degraded",
         "does not exist", KStatus.FAILED, KStatus.FAILED),
    Case("redeploy running", obj("Redeploy", conditions=REDEPLOYING), "Progressing",
         "Creating", KStatus.IN_PROGRESS, KStatus.IN_PROGRESS),
    # A Redeploy's goal is Succeeded; kstatus knows only Ready, so only the Flux expressions
    # and the Argo check keep waiting for it.
    Case("redeploy without a verdict", obj("Redeploy", conditions=[
         condition("Stalled", "False", "NoFailure")]), "Progressing", "Waiting for Succeeded",
         KStatus.CURRENT, KStatus.IN_PROGRESS),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
class TestEveryState:
    """What each tool shows for an object in one state."""

    def test_argocd(self, case: Case) -> None:
        health = argocd_health(case.body)
        assert health.status == case.argocd
        assert case.message in health.message

    def test_kstatus(self, case: Case) -> None:
        assert kstatus(case.body)[0] is case.kstatus

    def test_flux(self, case: Case) -> None:
        if case.flux == UNKNOWN:
            with pytest.raises(FluxError):
                flux_health(case.body)
        else:
            assert flux_health(case.body) is case.flux


class TestArgoCdInstall:
    """The argocd-cm patch installs health.lua for both kinds, and it runs as Argo runs it."""

    def test_patch_holds_health_lua_under_both_keys(self) -> None:
        patch = yaml.safe_load((REPO / "manifests" / "argocd" / "argocd-cm-patch.yaml").read_text())
        assert patch["kind"] == "ConfigMap"
        assert patch["metadata"] == {"name": "argocd-cm", "namespace": "argocd"}
        lua = HEALTH_LUA.read_text()
        assert patch["data"] == {
            f"resource.customizations.health.{constants.GROUP}_{kind}": lua
            for kind in (constants.DEPLOYMENT_UNIT_KIND, constants.REDEPLOY_KIND)
        }

    def test_runtime_lacks_the_libraries_argo_cd_leaves_closed(self) -> None:
        for script in (
            'return {status = string.upper("x"), message = ""}',
            'return {status = ("x"):upper(), message = ""}',
            'return {status = os.getenv("HOME"), message = ""}',
            'return {status = io.read(), message = ""}',
        ):
            with pytest.raises(Exception, match=r"nil value|attempt to"):
                argocd_health(obj(), script)

    def test_an_unknown_status_is_refused(self) -> None:
        with pytest.raises(AssertionError, match="unknown status"):
            argocd_health(obj(), 'return {status = "Fine", message = ""}')


class TestFluxExample:
    """The Flux Kustomization example checks both kinds of the API."""

    def test_covers_both_kinds(self) -> None:
        entries = flux_expressions()
        assert set(entries) == {constants.DEPLOYMENT_UNIT_KIND, constants.REDEPLOY_KIND}
        for entry in entries.values():
            assert entry["apiVersion"] == constants.API_VERSION
            assert {"inProgress", "failed", "current"} <= set(entry)

    def test_waits_with_a_timeout(self) -> None:
        document = yaml.safe_load((REPO / "manifests" / "flux" / "bpm-units.yaml").read_text())
        assert document["kind"] == "Kustomization"
        assert document["spec"]["wait"] is True
        assert document["spec"]["timeout"]
