"""The repository's manifests as kustomize renders them (kubectl's own kustomize, no server)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from devcluster import binaries

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = REPO / "manifests"
SAMPLES = MANIFESTS / "samples"


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
