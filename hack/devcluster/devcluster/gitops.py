"""Finds or builds the pinned GitOps tools (Flux, Argo CD, kustomize) from the Go module proxy.

Neighbours: `binaries` builds the control plane the same way and owns the cache and its locks;
the GitOps tests in `tests/gitops/` run what this module builds as plain processes.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from devcluster.binaries import BinariesUnavailable, cache_root, locked

#: Flux's controllers; v1.10 and later need Go 1.27.
FLUX_VERSION = "v1.9.6"
#: Argo CD; v3.3 to v3.5 replace gitops-engine by a folder missing from their module zip,
#: v3.6 needs Go 1.27.
ARGOCD_VERSION = "v3.2.12"
#: The kustomize Argo CD's repo-server runs to render a kustomization folder.
KUSTOMIZE_VERSION = "v5.7.1"

FLUX_CONTROLLERS = ("source-controller", "kustomize-controller")

#: Flux's go.mod pins github.com/fluxcd/pkg/artifact v0.18.3, which the module proxy refuses to
#: serve; v0.18.0 has the same API for what source-controller uses.
FLUX_REPLACES = {"github.com/fluxcd/pkg/artifact": "github.com/fluxcd/pkg/artifact@v0.18.0"}

#: Argo CD v3.2.12 as published calls `settings.ValidateExternalURL` from controller/cache/info.go,
#: but util/settings defines it unexported; this file, added at build time, exports it.
ARGOCD_EXPORT_PATCH = (
    "util/settings/zz_deployunits_export.go",
    "// Added by deployunits' build: controller/cache/info.go calls the exported name.\n"
    "package settings\n\n"
    "func ValidateExternalURL(u string) error { return validateExternalURL(u) }\n",
)


@dataclass(frozen=True)
class GitOpsBinaries:
    """Paths of the GitOps programs."""

    source_controller: Path
    kustomize_controller: Path
    #: One binary that acts as the program its file name (argv[0]) says.
    argocd: Path
    kustomize: Path


def _go() -> str:
    go = shutil.which("go")
    if go is None:
        raise BinariesUnavailable(
            "the Go toolchain (1.26) is needed to build the GitOps tools once"
        )
    return go


def _environment(**extra: str) -> dict[str, str]:
    return {**os.environ, "GOTOOLCHAIN": "local", "CGO_ENABLED": "0", **extra}


def _run(command: list[str], cwd: Path, env: dict[str, str]) -> None:
    result = subprocess.run(command, cwd=cwd, env=env, check=False)
    if result.returncode != 0:
        raise BinariesUnavailable(f"{' '.join(command)} failed in {cwd} (exit {result.returncode})")


def module_dir(module: str, version: str) -> Path:
    """The module's source as the proxy serves it (its zip, not its repository), in the read-only
    Go module cache; downloaded first when missing."""
    found = subprocess.run(
        [_go(), "mod", "download", "-json", f"{module}@{version}"],
        cwd=Path.home(),
        env=_environment(GOFLAGS="-mod=mod"),
        capture_output=True,
        text=True,
        check=False,
    )
    info = json.loads(found.stdout or "{}")
    if found.returncode != 0 or "Dir" not in info:
        error = info.get("Error", found.stderr)
        raise BinariesUnavailable(f"go mod download {module}@{version}: {error}")
    return Path(info["Dir"])


def module_source(module: str, version: str, into: Path) -> Path:
    """A writable copy of the module's source, to edit and build."""
    copy = into / module.rsplit("/", 1)[-1]
    # copyfile, not copy2: the module cache is read-only, the copy gets its owner's write bit.
    shutil.copytree(module_dir(module, version), copy, copy_function=shutil.copyfile)
    return copy


def flux_crds() -> list[Path]:
    """The CRDs of the pinned Flux controllers, from their modules' sources."""
    return [
        path
        for controller in FLUX_CONTROLLERS
        for path in sorted(
            (module_dir(f"github.com/fluxcd/{controller}", FLUX_VERSION) / "config/crd/bases").glob(
                "*.yaml"
            )
        )
    ]


def argocd_crds() -> list[Path]:
    """The Application and AppProject CRDs of the pinned Argo CD."""
    crds = module_dir("github.com/argoproj/argo-cd/v3", ARGOCD_VERSION) / "manifests/crds"
    return [crds / "application-crd.yaml", crds / "appproject-crd.yaml"]


def _build_flux(controller: str, work: Path, output: Path) -> None:
    source = module_source(f"github.com/fluxcd/{controller}", FLUX_VERSION, work)
    edits = [f"-dropreplace=github.com/fluxcd/{controller}/api"]
    go_mod = (source / "go.mod").read_text()
    # Each controller's go.mod replaces its `api` module by ./api, a folder the zip lacks; without
    # the replace the published api module of the same release is used.
    edits += [f"-replace={old}={new}" for old, new in FLUX_REPLACES.items() if old in go_mod]
    _run([_go(), "mod", "edit", *edits], source, _environment())
    # The checksum database is not reachable from these machines; the replaced modules are the
    # ones go.sum cannot vouch for.
    env = _environment(GOFLAGS="-mod=mod -buildvcs=false", GONOSUMDB=",".join(FLUX_REPLACES))
    _run([_go(), "build", "-trimpath", "-ldflags=-s -w", "-o", str(output), "."], source, env)


def _build_argocd(work: Path, output: Path) -> None:
    source = module_source("github.com/argoproj/argo-cd/v3", ARGOCD_VERSION, work)
    patch_path, patch_text = ARGOCD_EXPORT_PATCH
    (source / patch_path).write_text(patch_text)
    ldflags = f"-s -w -X github.com/argoproj/argo-cd/v3/common.version={ARGOCD_VERSION.lstrip('v')}"
    env = _environment(GOFLAGS="-mod=mod -buildvcs=false")
    _run(
        [_go(), "build", "-trimpath", f"-ldflags={ldflags}", "-o", str(output), "./cmd"],
        source,
        env,
    )


def _build_kustomize(work: Path, output: Path) -> None:
    source = module_source("sigs.k8s.io/kustomize/kustomize/v5", KUSTOMIZE_VERSION, work)
    env = _environment(GOFLAGS="-mod=mod -buildvcs=false")
    _run([_go(), "build", "-trimpath", "-ldflags=-s -w", "-o", str(output), "."], source, env)


def _cached(key: str, names: tuple[str, ...], build: Callable[[Path, Path], None]) -> Path:
    """The folder of the cache entry `key`, built first (atomically, under a lock) when missing."""
    target = cache_root() / key
    with locked(cache_root() / f"{key}.lock"):
        if not all((target / name).exists() for name in names):
            target.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{key}-") as staging_dir:
                staging = Path(staging_dir)
                outputs = staging / "out"
                outputs.mkdir()
                sys.stderr.write(f"building {key} (once, then cached) ...\n")
                build(staging, outputs)
                if target.exists():
                    shutil.rmtree(target)
                outputs.rename(target)
    return target


def ensure_flux() -> tuple[Path, Path]:
    """source-controller and kustomize-controller of the pinned Flux release."""

    def build(work: Path, outputs: Path) -> None:
        for controller in FLUX_CONTROLLERS:
            _build_flux(controller, work, outputs / controller)

    target = _cached(f"flux-{FLUX_VERSION}", FLUX_CONTROLLERS, build)
    return target / "source-controller", target / "kustomize-controller"


def ensure_argocd() -> tuple[Path, Path]:
    """The argocd binary of the pinned release and the kustomize it renders folders with."""

    def build(work: Path, outputs: Path) -> None:
        _build_argocd(work, outputs / "argocd")
        _build_kustomize(work, outputs / "kustomize")

    key = f"argocd-{ARGOCD_VERSION}-kustomize-{KUSTOMIZE_VERSION}"
    target = _cached(key, ("argocd", "kustomize"), build)
    return target / "argocd", target / "kustomize"


def ensure_built() -> GitOpsBinaries:
    """The cached GitOps binaries of the pinned versions, building them first when missing."""
    source_controller, kustomize_controller = ensure_flux()
    argocd, kustomize = ensure_argocd()
    return GitOpsBinaries(source_controller, kustomize_controller, argocd, kustomize)
