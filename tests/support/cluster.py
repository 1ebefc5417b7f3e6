"""A Kubernetes cluster for integration tests: embedded control plane, kind, or a kubeconfig."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deployunits.devcluster import binaries
from deployunits.devcluster.cli import apply_admission_policy
from deployunits.devcluster.plane import ControlPlane, _die_with_parent, free_port

REPO = Path(__file__).resolve().parents[2]
CRDS = REPO / "crds"
ADMISSION = REPO / "manifests" / "admission-beta"
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

    def apply(self, manifest: str, namespace: str) -> subprocess.CompletedProcess[str]:
        """kubectl apply -f - into the namespace."""
        return self.kubectl("apply", "-n", namespace, "-f", "-", input=manifest)

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
        self.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRDS))
        self.kubectl("wait", "--for=condition=Established", "--timeout=60s", "-f", str(CRDS))
        self.kubectl("api-resources")  # refresh kubectl's discovery cache for this address
        if self.plane is not None:
            # The embedded plane serves MutatingAdmissionPolicy: units get the finalizer at
            # creation, as on a cluster where manifests/admission is installed.
            apply_admission_policy(self.kubectl_path, self.kubeconfig, ADMISSION)


def embedded_cluster() -> Cluster:
    """Start the embedded control plane (building it once if needed)."""
    plane = ControlPlane(binaries.ensure_built())
    plane.start()
    restricted = plane.add_user(RESTRICTED_USER, ("deployunits:testers",))
    return Cluster(plane.kubeconfig, restricted.kubeconfig, plane=plane)


@dataclass
class OperatorProcess:
    """The operator as a real subprocess (`deployunits-operator`), restartable and killable."""

    kubeconfig: Path
    log: Path
    env: dict[str, str] = field(default_factory=dict)
    args: list[str] = field(default_factory=lambda: ["--standalone"])
    popen: subprocess.Popen[bytes] | None = None
    probe_port: int = 0
    #: Another program in the operator's place (bench/least_operator.py); the same environment.
    command: list[str] | None = None

    def start(self, timeout: float = 60) -> None:
        self.probe_port = free_port()
        env = {
            **os.environ,
            "DEPLOYUNITS_KUBECONFIG": str(self.kubeconfig),
            "DEPLOYUNITS_PROBE_HOST": "127.0.0.1",
            "DEPLOYUNITS_PROBE_PORT": str(self.probe_port),
            **self.env,
        }
        executable = Path(sys.executable).parent / "deployunits-operator"
        command = self.command or [str(executable)]
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                [*command, *self.args],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
            )
        wait_for(self._healthy, timeout, f"operator healthz; log:\n{self.tail()}")

    def _healthy(self) -> bool:
        assert self.popen is not None
        if self.popen.poll() is not None:
            raise AssertionError(f"operator exited with {self.popen.returncode}:\n{self.tail()}")
        try:
            url = f"http://127.0.0.1:{self.probe_port}/healthz"
            with urllib.request.urlopen(url, timeout=2) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def stop(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self.popen = None

    def kill(self) -> None:
        """kill -9, as a crash would."""
        if self.popen is not None:
            self.popen.kill()
            self.popen.wait()
        self.popen = None

    def tail(self, lines: int = 80) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def wait_for(predicate: Callable[[], bool], timeout: float = 30, what: str = "condition") -> None:
    """Poll until predicate() is true; fail with `what` after timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


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
