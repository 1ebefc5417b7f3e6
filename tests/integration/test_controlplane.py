"""The embedded control plane and `make run`'s launcher: start, serve, and leave nothing behind.

Matrix: the plane's processes die with a parent killed by SIGKILL; `kubectl get bpm` lists both
kinds through their category; `deployunits-devcluster run --cluster existing` starts operator and
shim, answers on both probes and stops cleanly on Ctrl-C.
"""

import os
import signal
import subprocess
import sys
import textwrap
import urllib.request
from pathlib import Path

from deployunits.devcluster.plane import free_port
from tests.support.cluster import REPO, Cluster, wait_for


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is dead for our purpose.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


def test_plane_processes_die_when_their_parent_is_killed(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import sys, time
        from deployunits.devcluster import binaries
        from deployunits.devcluster.plane import ControlPlane
        plane = ControlPlane(binaries.ensure_built(), with_controller_manager=True)
        plane.start()
        print(" ".join(str(pid) for pid in plane.processes().values()), flush=True)
        time.sleep(600)
        """
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    assert parent.stdout is not None
    pids = [int(pid) for pid in parent.stdout.readline().split()]
    assert len(pids) == 3
    assert all(_alive(pid) for pid in pids)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    parent.stdout.close()
    wait_for(lambda: not any(_alive(pid) for pid in pids), 10, "plane processes to exit")


def test_kubectl_get_bpm_lists_both_kinds(cluster: Cluster, namespace: str) -> None:
    cluster.apply(
        """
apiVersion: bpm.deployunits.io/v1alpha1
kind: DeploymentUnit
metadata: {name: listed}
spec:
  deploymentId: listed-1
  resources: {inline: [{name: a.bpmn, content: "<definitions/>"}]}
---
apiVersion: bpm.deployunits.io/v1alpha1
kind: Redeploy
metadata: {name: again}
spec: {deploymentId: listed-1}
""",
        namespace,
    )
    out = cluster.kubectl("get", "bpm", "-n", namespace).stdout
    assert "deploymentunit.bpm.deployunits.io/listed" in out
    assert "redeploy.bpm.deployunits.io/again" in out


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status)
    except OSError:
        return 0


def test_run_command_starts_operator_and_shim_and_stops_on_ctrl_c(
    cluster: Cluster, tmp_path: Path
) -> None:
    shim_port, probe_port = free_port(), free_port()
    env = {
        **os.environ,
        "KUBECONFIG": str(cluster.kubeconfig),
        "DEPLOYUNITS_PROBE_PORT": str(probe_port),
        # Keep this second operator away from the session operator's objects.
        "DEPLOYUNITS_NAMESPACES": '["run-command-test"]',
    }
    launcher = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "deployunits-devcluster"),
            "run",
            "--cluster",
            "existing",
            "--dev-dir",
            str(tmp_path),
            "--shim-port",
            str(shim_port),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for(lambda: _get(f"http://127.0.0.1:{shim_port}/healthz") == 200, 60, "shim")
        wait_for(lambda: _get(f"http://127.0.0.1:{probe_port}/healthz") == 200, 60, "operator")
    finally:
        launcher.send_signal(signal.SIGINT)
        output, _ = launcher.communicate(timeout=30)
    assert launcher.returncode == 0, output
    assert "kubectl" in output
    assert f"curl http://127.0.0.1:{shim_port}/healthz" in output
    assert _get(f"http://127.0.0.1:{shim_port}/healthz") == 0
