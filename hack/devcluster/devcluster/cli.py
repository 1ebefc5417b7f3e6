"""`deployunits-devcluster`: build the control plane, or run everything locally (`make run`)."""

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

from devcluster import binaries
from devcluster.install import REPO, install_crds
from devcluster.plane import ControlPlane
from devcluster.processes import spawn


def _banner(kubeconfig: Path, shim_port: int) -> str:
    shown = os.path.relpath(kubeconfig) if kubeconfig.is_relative_to(Path.cwd()) else kubeconfig
    return f"""
deployunits is running.
  kubeconfig:  {shown}
  operator:    http://127.0.0.1:8081/healthz
  REST shim:   http://127.0.0.1:{shim_port}  (auth mode 'none': loopback only, no token needed)

Try, from another shell:
  .venv/bin/kubectl --kubeconfig {shown} get bpm
  .venv/bin/kubectl --kubeconfig {shown} apply -f manifests/samples/inline-unit.yaml
  .venv/bin/kubectl --kubeconfig {shown} wait --for=condition=Ready du/hello-inline
  curl http://127.0.0.1:{shim_port}/healthz
  curl http://127.0.0.1:{shim_port}/engine-rest/deployment/count

How to call the shim here (auth mode 'none') and with a ServiceAccount token (auth mode
'kubernetes'): README.md, section "Calling the REST shim".

Press Ctrl-C to stop everything.
"""


def run(cluster: str, dev_dir: Path, shim_port: int) -> int:
    """Start (or reuse) a cluster, install the CRDs, run operator and shim until Ctrl-C."""
    dev_dir.mkdir(parents=True, exist_ok=True)
    kubectl = binaries.kubectl()
    plane: ControlPlane | None = None
    children: list[subprocess.Popen[bytes]] = []

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        if cluster == "embedded":
            plane = ControlPlane(binaries.ensure_built(), workdir=dev_dir / "plane", keep_data=True)
            plane.start()
            kubeconfig = dev_dir / "kubeconfig"
            kubeconfig.write_text(plane.kubeconfig.read_text())
            kubeconfig.chmod(0o600)
        else:
            configured = os.environ.get("KUBECONFIG", str(Path.home() / ".kube" / "config"))
            kubeconfig = Path(configured.split(os.pathsep)[0]).resolve()
        install_crds(kubectl, kubeconfig, admission=cluster == "embedded")
        env = {**os.environ, "DEPLOYUNITS_KUBECONFIG": str(kubeconfig)}
        bin_dir = Path(sys.executable).parent
        children.append(
            spawn([str(bin_dir / "deployunits-operator")], env, dev_dir / "operator.log")
        )
        shim_env = {
            **env,
            "DEPLOYUNITS_AUTH_MODE": "none",
            "DEPLOYUNITS_HOST": "127.0.0.1",
            "DEPLOYUNITS_PORT": str(shim_port),
        }
        children.append(spawn([str(bin_dir / "deployunits-shim")], shim_env, dev_dir / "shim.log"))
        print(_banner(kubeconfig, shim_port), flush=True)
        print(f"(logs: {dev_dir}/operator.log, {dev_dir}/shim.log)", flush=True)
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        failed = next(child for child in children if child.poll() is not None)
        print(f"a process exited ({failed.args!r}: {failed.returncode}); stopping", flush=True)
        return 1
    except KeyboardInterrupt:
        print("\nstopping ...", flush=True)
        return 0
    finally:
        for child in children:
            if child.poll() is None:
                child.terminate()
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
        if plane is not None:
            plane.stop()


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and do what it asks."""
    parser = argparse.ArgumentParser(prog="deployunits-devcluster", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("build", help="build (or find) kube-apiserver, controller-manager, etcd")
    run_parser = commands.add_parser("run", help="run everything until Ctrl-C")
    run_parser.add_argument("--cluster", choices=["embedded", "existing"], default="embedded")
    run_parser.add_argument("--dev-dir", type=Path, default=REPO / ".dev")
    run_parser.add_argument("--shim-port", type=int, default=8080)
    args = parser.parse_args(argv)
    if args.command == "build":
        found = binaries.ensure_built()
        versions = binaries.pinned_versions()
        print(
            f"kubernetes {versions.kubernetes}, etcd {versions.etcd}: {found.kube_apiserver.parent}"
        )
        return 0
    return run(args.cluster, args.dev_dir, args.shim_port)


if __name__ == "__main__":
    raise SystemExit(main())
