"""`deployunits-devcluster run` (what `make run` starts) against the test cluster."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from devcluster.plane import free_port
from devcluster.processes import SCRIPTS
from tests.support.cluster import Cluster


def start_run_command(
    cluster: Cluster, dev_dir: Path, namespace: str, *args: str, probe_port: int | None = None
) -> subprocess.Popen[str]:
    """`deployunits-devcluster run --cluster existing` with `args`, its files in `dev_dir`,
    its operator (probes on `probe_port`, else a free one) kept to `namespace`, away from the
    session operator's objects; its output (text) in `stdout`."""
    env = {
        **os.environ,
        "KUBECONFIG": str(cluster.kubeconfig),
        "DEPLOYUNITS_PROBE_PORT": str(probe_port or free_port()),
        "DEPLOYUNITS_NAMESPACES": json.dumps([namespace]),
    }
    command = [str(SCRIPTS / "deployunits-devcluster"), "run", "--cluster", "existing"]
    return subprocess.Popen(
        [*command, "--dev-dir", str(dev_dir), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
