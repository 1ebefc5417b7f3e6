"""Installs the project's CRDs (and, where the API server serves it, the finalizer policy)."""

import subprocess
import time
from pathlib import Path

from devcluster import binaries

#: The repository this dev kit belongs to (crds/ and manifests/ are read from it).
REPO = binaries.WRAPPERS.parents[1]
CRDS = REPO / "crds"
#: The policy as a kustomize Component; the embedded plane serves its beta API.
ADMISSION = REPO / "manifests" / "admission-beta"


def run_kubectl(
    kubectl: Path, kubeconfig: Path, *args: str, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run kubectl; raise with its stderr on failure."""
    result = subprocess.run(
        [str(kubectl), "--kubeconfig", str(kubeconfig), *args],
        input=input,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}"
        )
    return result


def apply_crds(kubectl: Path, kubeconfig: Path, crds: Path = CRDS) -> None:
    """Install the CRDs and wait until the API server serves them."""
    run_kubectl(kubectl, kubeconfig, "apply", "--server-side", "--force-conflicts", "-f", str(crds))
    run_kubectl(
        kubectl, kubeconfig, "wait", "--for=condition=Established", "--timeout=60s", "-f", str(crds)
    )
    # kubectl caches discovery per server address; a cache written before the CRDs existed
    # would hide the `bpm` category (`kubectl get bpm`). api-resources refreshes it.
    run_kubectl(kubectl, kubeconfig, "api-resources")


PROBE_UNIT = """
apiVersion: bpm.deployunits.io/v1alpha1
kind: DeploymentUnit
metadata: {name: admission-probe, namespace: default}
spec:
  deploymentId: admission-probe
  resources: {inline: [{name: probe.bpmn, content: probe}]}
"""


def apply_admission_policy(kubectl: Path, kubeconfig: Path, component: Path = ADMISSION) -> None:
    """Install the finalizer policy (a kustomize Component) and wait until it acts."""
    rendered = run_kubectl(kubectl, kubeconfig, "kustomize", str(component)).stdout
    run_kubectl(kubectl, kubeconfig, "apply", "--server-side", "-f", "-", input=rendered)
    # Policies reach the admission chain through an informer: a server-side dry run of a
    # create shows when the finalizer is put on.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        probe = subprocess.run(
            [
                str(kubectl),
                "--kubeconfig",
                str(kubeconfig),
                "create",
                "--dry-run=server",
                "-o",
                "jsonpath={.metadata.finalizers}",
                "-f",
                "-",
            ],
            input=PROBE_UNIT,
            capture_output=True,
            text=True,
            check=False,
        )
        if "bpm.deployunits.io/finalizer" in probe.stdout:
            return
        time.sleep(0.2)
    raise RuntimeError(f"the admission policy did not act within 60s: {probe.stderr}")


def install_crds(kubectl: Path, kubeconfig: Path, *, admission: bool) -> None:
    """The CRDs, and with `admission` (the embedded plane) the finalizer policy.

    With the policy, units get the finalizer at creation, as on a cluster where
    manifests/admission is installed.
    """
    apply_crds(kubectl, kubeconfig)
    if admission:
        apply_admission_policy(kubectl, kubeconfig)
