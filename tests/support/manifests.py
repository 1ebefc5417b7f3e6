"""The repository's manifests as kustomize renders them (kubectl's own kustomize) and the Helm
chart as helm renders it, without a server."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import yaml

from devcluster import binaries

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = REPO / "manifests"
SAMPLES = MANIFESTS / "samples"
CHART = REPO / "charts" / "deployunits"
#: The namespace of the base, and the release namespace the chart is rendered for.
INSTALL_NAMESPACE = "deployunits-system"


def render(folder: Path) -> list[dict[str, Any]]:
    """`kubectl kustomize FOLDER`: the objects, in order."""
    result = subprocess.run(
        [str(binaries.kubectl()), "kustomize", str(folder)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def render_with(components: list[str], folder: Path) -> list[dict[str, Any]]:
    """The base with kustomize Components of manifests/ (`ha`, `admission`, ...), as an overlay
    in `folder` would render it."""
    overlay = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        # kustomize takes only relative paths to other kustomizations.
        "resources": [os.path.relpath(MANIFESTS, folder)],
        "components": [os.path.relpath(MANIFESTS / name, folder) for name in components],
    }
    (folder / "kustomization.yaml").write_text(yaml.safe_dump(overlay))
    return render(folder)


def helm_template(*values: str, release: str = "deployunits") -> list[dict[str, Any]]:
    """`helm template` of the chart with its CRDs into INSTALL_NAMESPACE; `values` are --set."""
    command = [str(binaries.helm()), "template", release, str(CHART)]
    command += ["--namespace", INSTALL_NAMESPACE, "--include-crds"]
    for value in values:
        command += ["--set", value]
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]
