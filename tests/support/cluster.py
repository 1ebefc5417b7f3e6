"""A Kubernetes cluster for integration tests: embedded control plane, kind, or a kubeconfig."""

from __future__ import annotations

import contextlib
import json
import subprocess
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from devcluster import binaries, install
from devcluster.plane import ControlPlane
from devcluster.processes import ManagedProcess

REPO = Path(__file__).resolve().parents[2]
RESTRICTED_USER = "restricted-tester"


@dataclass
class Cluster:
    """Admin access to a cluster, and a user that has no rights on the project's kinds."""

    kubeconfig: Path
    #: A kubeconfig of a real least-privilege user (embedded plane), or None to impersonate.
    restricted_kubeconfig: Path | None
    plane: ControlPlane | None = None
    kubectl_path: Path = field(default_factory=binaries.kubectl)

    def kubectl(
        self,
        *args: str,
        input: str | None = None,
        check: bool = True,
        kubeconfig: Path | None = None,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl as admin (or with another kubeconfig); raise with its stderr on failure."""
        command = [str(self.kubectl_path), "--kubeconfig", str(kubeconfig or self.kubeconfig)]
        result = subprocess.run(
            [*command, *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}"
            )
        return result

    def restricted_kubectl(
        self, *args: str, check: bool = False
    ) -> subprocess.CompletedProcess[str]:
        """kubectl as the least-privilege user."""
        if self.restricted_kubeconfig is not None:
            return self.kubectl(*args, kubeconfig=self.restricted_kubeconfig, check=check)
        return self.kubectl(*args, f"--as={RESTRICTED_USER}", check=check)

    def get(self, kind: str, name: str, namespace: str) -> dict[str, Any]:
        """One object as JSON."""
        out = self.kubectl("get", kind, name, "-n", namespace, "-o", "json").stdout
        result: dict[str, Any] = json.loads(out)
        return result

    def events(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        """The namespace's Events that match a field selector."""
        out = self.kubectl(
            "get", "events", "-n", namespace, "--field-selector", selector, "-o", "json"
        ).stdout
        found: list[dict[str, Any]] = json.loads(out)["items"]
        return found

    def wait_condition(
        self, name: str, namespace: str, condition: str, log: ManagedProcess, kind: str = "du"
    ) -> dict[str, Any]:
        """Wait up to 60 s for the object's condition (`kubectl wait`); the object as shown then.

        A timeout fails with the object's status and the tail of `log` (the operator's).
        """
        result = self.kubectl(
            "wait",
            f"--for=condition={condition}",
            "--timeout=60s",
            f"{kind}/{name}",
            "-n",
            namespace,
            check=False,
        )
        found = self.get(kind, name, namespace)
        assert result.returncode == 0, (
            f"{name}: {result.stderr}\n{json.dumps(found.get('status'), indent=1)}\n"
            f"operator log:\n{log.tail()}"
        )
        return found

    def apply(self, manifest: str, namespace: str) -> subprocess.CompletedProcess[str]:
        """kubectl apply -f - into the namespace."""
        return self.kubectl("apply", "-n", namespace, "-f", "-", input=manifest)

    def apply_objects(
        self, namespace: str, *objects: dict[str, Any]
    ) -> subprocess.CompletedProcess[str]:
        """kubectl apply of these objects (one YAML stream) into the namespace."""
        return self.apply(yaml.safe_dump_all(objects, sort_keys=False), namespace)

    def apply_and_wait(
        self, namespace: str, obj: dict[str, Any], condition: str, log: ManagedProcess
    ) -> dict[str, Any]:
        """Apply one unit (or Redeploy) and wait for its condition (`wait_condition`, which
        fails with `log`'s tail); the object as shown then."""
        self.apply_objects(namespace, obj)
        kind = "redeploy" if obj["kind"] == "Redeploy" else "du"
        return self.wait_condition(obj["metadata"]["name"], namespace, condition, log, kind=kind)

    @contextlib.contextmanager
    def scratch_namespace(self, prefix: str) -> Iterator[str]:
        """A new namespace named after `prefix`, deleted afterwards (without waiting)."""
        name = unique_name(prefix)
        self.kubectl("create", "namespace", name)
        try:
            yield name
        finally:
            self.kubectl("delete", "namespace", name, "--wait=false", check=False)

    def install_crds(self) -> None:
        # The embedded plane serves MutatingAdmissionPolicy; other clusters may not.
        install.install_crds(self.kubectl_path, self.kubeconfig, admission=self.plane is not None)


def embedded_cluster() -> Cluster:
    """Start the embedded control plane (building it once if needed)."""
    plane = ControlPlane(binaries.ensure_built())
    plane.start()
    restricted = plane.add_user(RESTRICTED_USER, ("deployunits:testers",))
    return Cluster(plane.kubeconfig, restricted.kubeconfig, plane=plane)


def unique_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def condition(obj: dict[str, Any], type_: str) -> dict[str, Any] | None:
    """The condition of that type in an object's status."""
    for item in obj.get("status", {}).get("conditions", []):
        if item.get("type") == type_:
            return dict(item)
    return None


def namespaces_of(objects: Sequence[dict[str, Any]]) -> set[str]:
    return {o["metadata"]["namespace"] for o in objects}
