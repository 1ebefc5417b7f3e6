"""The project's image run with podman: the operator and the shim as containers, as in a Pod."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devcluster.plane import free_port
from devcluster.processes import ManagedProcess

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "hack" / "image" / "build.sh"
#: The image `make image` builds; DEPLOYUNITS_IMAGE names another.
IMAGE = os.environ.get("DEPLOYUNITS_IMAGE", "localhost/deployunits:0.1.0")
#: podman as it works on these machines (hack/image/build.sh says why).
PODMAN = ["podman", "--runtime", "runc", "--cgroup-manager", "cgroupfs"]
ULIMITS = ["--ulimit", "nofile=1024:4096", "--ulimit", "nproc=1024:2048"]
#: Where the containers find the kubeconfig (mounted read-only).
KUBECONFIG_IN_CONTAINER = "/var/run/deployunits/kubeconfig"
USER = "65532:65532"


def podman(*args: str, check: bool = True, timeout: float = 120) -> str:
    """Run podman; its stdout, or an AssertionError with its stderr."""
    result = subprocess.run(
        [*PODMAN, *args], capture_output=True, text=True, check=False, timeout=timeout
    )
    if check and result.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} failed:\n{result.stderr}")
    return result.stdout


def podman_missing() -> str | None:
    """Why the image cannot be run here, or None when it can."""
    if shutil.which("podman") is None:
        return "podman is not installed (`make image-test` installs it and runs this test)"
    if os.geteuid() != 0:
        return "podman runs the image here as root only (hack/image/build.sh)"
    return None


def flattened_kubeconfig(kubectl: Path, kubeconfig: Path, target: Path) -> Path:
    """The kubeconfig with its certificates inline, readable by the containers' user.

    The embedded plane's kubeconfig names certificate files, which the containers do not see.
    """
    result = subprocess.run(
        [str(kubectl), "--kubeconfig", str(kubeconfig), "config", "view", "--raw", "--flatten"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    target.write_text(result.stdout)
    target.chmod(0o644)
    return target


@dataclass
class Container(ManagedProcess):
    """One container of the image in the foreground of `podman run` (its output is the log).

    Run as the Deployment runs it: host network (for the loopback control plane), read-only
    root file system, user 65532, no capabilities, no privilege escalation, the kubeconfig
    mounted read-only.
    """

    image: str = IMAGE
    entrypoint: str | None = None
    args: list[str] = field(default_factory=list)
    container_env: dict[str, str] = field(default_factory=dict)
    tmpfs: bool = False
    port: int = 0
    container_name: str = field(default_factory=lambda: f"deployunits-{uuid.uuid4().hex[:8]}")

    name = "container"

    def start(self, probe: str = "/healthz", timeout: float = 90) -> None:
        """Start it and wait until `probe` on its port answers 200."""
        env = {"DEPLOYUNITS_KUBECONFIG": KUBECONFIG_IN_CONTAINER, **self.container_env}
        command = [
            *PODMAN,
            "run",
            "--rm",
            "--name",
            self.container_name,
            "--network",
            "host",
            "--read-only",
            # Only what the Deployment mounts is writable (podman would add tmpfs at /tmp).
            "--read-only-tmpfs=false",
            "--user",
            USER,
            "--cap-drop",
            "ALL",
            "--security-opt",
            "no-new-privileges",
            *ULIMITS,
            "--volume",
            f"{self.kubeconfig}:{KUBECONFIG_IN_CONTAINER}:ro",
            *(["--tmpfs", "/tmp"] if self.tmpfs else []),
            *(["--entrypoint", self.entrypoint] if self.entrypoint else []),
            *[part for key, value in env.items() for part in ("--env", f"{key}={value}")],
            self.image,
            *self.args,
        ]
        self._launch(command, {}, f"http://127.0.0.1:{self.port}{probe}", timeout)

    def stop(self) -> None:
        super().stop()
        # `podman run` forwards SIGTERM; a container left behind (a killed client) goes here.
        podman("rm", "--force", "--ignore", self.container_name, check=False)

    def inspect(self, template: str) -> str:
        return podman("inspect", "--format", template, self.container_name).strip()

    def rss_bytes(self) -> int:
        """Resident memory of the container's main process (not of the podman client)."""
        pid = self.inspect("{{.State.Pid}}")
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    def uids(self) -> list[int]:
        """The real, effective, saved and file-system uid of the main process."""
        pid = self.inspect("{{.State.Pid}}")
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("Uid:"):
                return [int(part) for part in line.split()[1:]]
        raise AssertionError("no Uid line")


def loopback_container(
    kubeconfig: Path,
    log: Path,
    image: str,
    address: str,
    env: dict[str, str],
    **options: Any,
) -> Container:
    """A container of the image serving on a free loopback port, which it reads from its
    settings `{address}HOST` and `{address}PORT`, and logging JSON; `env` and `options` added.

    The kubernetes client writes a kubeconfig's inline certificates (*-data) to temporary files.
    In a Pod the programs read the ServiceAccount's files and need no /tmp; with a kubeconfig
    like this one they do.
    """
    port = free_port()
    return Container(
        kubeconfig,
        log,
        image=image,
        port=port,
        tmpfs=True,
        container_env={
            f"{address}HOST": "127.0.0.1",
            f"{address}PORT": str(port),
            **env,
            "DEPLOYUNITS_LOG_FORMAT": "json",
        },
        **options,
    )


def operator_container(kubeconfig: Path, log: Path, image: str = IMAGE) -> Container:
    """The image's default command: the operator, standalone, probes on a free port."""
    return loopback_container(
        kubeconfig, log, image, "DEPLOYUNITS_PROBE_", {}, args=["--standalone"]
    )


def shim_container(kubeconfig: Path, log: Path, namespace: str, image: str = IMAGE) -> Container:
    """The shim's console script on a free loopback port, serving `namespace` by default.

    Auth mode `kubernetes`, as the Deployment runs it: callers present a token, which the shim
    checks with a TokenReview, and each request is authorized with a SubjectAccessReview.
    """
    env = {"DEPLOYUNITS_AUTH_MODE": "kubernetes", "DEPLOYUNITS_NAMESPACE": namespace}
    return loopback_container(
        kubeconfig, log, image, "DEPLOYUNITS_", env, entrypoint="deployunits-shim"
    )
