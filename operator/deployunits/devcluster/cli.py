"""`deployunits-devcluster`: build the control plane, or run everything locally (`make run`)."""

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

from deployunits import constants
from deployunits.devcluster import binaries
from deployunits.devcluster.plane import ControlPlane, _die_with_parent

REPO = binaries.WRAPPERS.parents[1]


def apply_crds(kubectl: Path, kubeconfig: Path, crds: Path) -> None:
    """Install the CRDs and wait until the API server serves them."""
    base = [str(kubectl), "--kubeconfig", str(kubeconfig)]
    subprocess.run([*base, "apply", "--server-side", "-f", str(crds)], check=True)
    subprocess.run(
        [*base, "wait", "--for=condition=Established", "--timeout=60s", "-f", str(crds)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    # kubectl caches discovery per server address; a cache written before the CRDs existed
    # would hide the `bpm` category (`kubectl get bpm`). api-resources refreshes it.
    subprocess.run([*base, "api-resources"], check=True, stdout=subprocess.DEVNULL)


PROBE_UNIT = """
apiVersion: bpm.deployunits.io/v1alpha1
kind: DeploymentUnit
metadata: {name: admission-probe, namespace: default}
spec:
  deploymentId: admission-probe
  resources: {inline: [{name: probe.bpmn, content: probe}]}
"""


def apply_admission_policy(kubectl: Path, kubeconfig: Path, component: Path) -> None:
    """Install the finalizer policy (a kustomize Component) and wait until it acts."""
    base = [str(kubectl), "--kubeconfig", str(kubeconfig)]
    rendered = subprocess.run(
        [*base, "kustomize", str(component)], check=True, capture_output=True, text=True
    ).stdout
    subprocess.run(
        [*base, "apply", "--server-side", "-f", "-"],
        input=rendered,
        check=True,
        text=True,
        stdout=subprocess.DEVNULL,
    )
    # Policies reach the admission chain through an informer: a server-side dry run of a
    # create shows when the finalizer is put on.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        probe = subprocess.run(
            [
                *base,
                "create",
                "--dry-run=server",
                "-o",
                "jsonpath={.metadata.finalizers}",
                "-f",
                "-",
            ],
            input=PROBE_UNIT,
            capture_output=True,
            text=True,
            check=False,
        )
        if constants.FINALIZER in probe.stdout:
            return
        time.sleep(0.2)
    raise RuntimeError(f"the admission policy did not act within 60s: {probe.stderr}")


def _spawn(command: list[str], env: dict[str, str], log: Path | None) -> subprocess.Popen[bytes]:
    out = log.open("ab") if log is not None else None
    try:
        return subprocess.Popen(
            command,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT if out else None,
            preexec_fn=_die_with_parent,
        )
    finally:
        if out is not None:
            out.close()


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
        apply_crds(kubectl, kubeconfig, REPO / "crds")
        if cluster == "embedded":
            apply_admission_policy(kubectl, kubeconfig, REPO / "manifests" / "admission-beta")
        env = {**os.environ, "DEPLOYUNITS_KUBECONFIG": str(kubeconfig)}
        bin_dir = Path(sys.executable).parent
        children.append(
            _spawn([str(bin_dir / "deployunits-operator")], env, dev_dir / "operator.log")
        )
        shim_env = {
            **env,
            "DEPLOYUNITS_AUTH_MODE": "none",
            "DEPLOYUNITS_HOST": "127.0.0.1",
            "DEPLOYUNITS_PORT": str(shim_port),
        }
        children.append(_spawn([str(bin_dir / "deployunits-shim")], shim_env, dev_dir / "shim.log"))
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
