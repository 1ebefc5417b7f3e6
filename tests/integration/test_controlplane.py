"""The embedded control plane and `make run`'s launcher: start, serve, and leave nothing behind.

Matrix: the plane's processes die with a parent killed by SIGKILL; kube-apiserver and etcd stopped
and started in place keep their address, certificates and objects; `kubectl get bpm` lists both
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

from devcluster import binaries
from devcluster.plane import ControlPlane, free_port
from devcluster.processes import wait_for
from tests.support.cluster import REPO, Cluster
from tests.support.launcher import start_run_command


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
        from devcluster import binaries
        from devcluster.plane import ControlPlane
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


def test_a_restarted_api_server_and_etcd_keep_address_and_objects() -> None:
    # A plane of its own: restarting the session's would disturb every other test.
    with ControlPlane(binaries.ensure_built(), with_controller_manager=False) as plane:
        own = Cluster(plane.kubeconfig, None, plane=plane)
        own.kubectl("create", "configmap", "kept", "--from-literal=answer=42")
        url, pids = plane.url, plane.processes()

        plane.stop_api_server()
        plane.stop_etcd()
        assert plane.processes() == {}
        refused = own.kubectl("get", "configmap", "kept", check=False, timeout=30)
        assert refused.returncode != 0
        plane.start_etcd()
        plane.start_api_server()

        assert plane.url == url
        assert set(plane.processes()) == set(pids)
        assert not set(plane.processes().values()) & set(pids.values())
        kept = own.kubectl("get", "configmap", "kept", "-o", "jsonpath={.data.answer}")
        assert kept.stdout == "42"
        own.kubectl("create", "configmap", "after", "--from-literal=answer=43")


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
    launcher = start_run_command(
        cluster,
        tmp_path,
        "run-command-test",
        "--shim-port",
        str(shim_port),
        # The engine has tests of its own (test_engine_launcher.py).
        "--engine",
        "none",
        probe_port=probe_port,
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
