"""`deployunits-devcluster`: build the control plane, or run everything locally (`make run`)."""

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

import yaml

from deployunits.models.processengine import (
    DEFAULT_ENGINE_ANNOTATION,
    Camunda7,
    DeletePolicy,
    KieServer,
    ProcessEngine,
    ProcessEngineSpec,
    SecretReference,
)
from devcluster import binaries, engine, gitops
from devcluster.install import REPO, install_crds
from devcluster.plane import ControlPlane
from devcluster.processes import spawn

#: The user of the local engine's HTTP basic auth (Camunda's customary demo user; loopback only).
LOCAL_ENGINE_USER = engine.BasicCredentials("demo", "demo")
#: The ProcessEngine (and its Secret) that `run` creates for the started engine.
LOCAL_ENGINE_NAME = "camunda7"
#: The same for a KIE Server (`--engine kie`).
LOCAL_KIE_NAME = "kie"
#: Where a KIE Server started by `run` resolves kjars unless DEPLOYUNITS_MAVEN_REPOSITORY says
#: (the shim's jBPM dialect reads the same variable, so both look in one place).
DEFAULT_MAVEN_REPOSITORY = "https://repo1.maven.org/maven2"


def default_engine_manifests(namespace: str, url: str, kind: str = "camunda7") -> str:
    """The namespace, a Secret with the demo credentials, and the namespace's default
    ProcessEngine pointing at the started engine, as one multi-document YAML."""
    name = LOCAL_KIE_NAME if kind == "kie" else LOCAL_ENGINE_NAME
    secret = f"{name}-credentials"
    reference = SecretReference(name=secret)
    process_engine = ProcessEngine(
        metadata={
            "name": name,
            "annotations": {DEFAULT_ENGINE_ANNOTATION: "true"},
        },
        spec=ProcessEngineSpec(
            camunda7=Camunda7(url=url, auth_secret_ref=reference) if kind != "kie" else None,
            kie_server=KieServer(url=url, auth_secret_ref=reference) if kind == "kie" else None,
            # A newcomer's experiments: an undeploy also removes the instances they started.
            delete_policy=DeletePolicy.CASCADE,
        ),
    )
    documents: list[dict[str, object]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": secret},
            "stringData": {
                "username": LOCAL_ENGINE_USER.username,
                "password": LOCAL_ENGINE_USER.password,
            },
        },
        process_engine.to_wire(),
    ]
    return yaml.safe_dump_all(documents, sort_keys=False)


def _engine_lines(camunda7: engine.Camunda7Process | None, namespace: str) -> str:
    if camunda7 is None:
        return "  engine:      none (ENGINE=none)\n"
    user = LOCAL_ENGINE_USER
    if isinstance(camunda7, engine.KieServerProcess):
        return (
            f"  engine:      {camunda7.url}  (KIE Server, user {user.username}, password "
            f"{user.password}; kjars from {camunda7.repository_url})\n"
            f"               curl -u {user.username}:{user.password} -H Accept:application/json "
            f"{camunda7.url}/containers\n"
            f"               the default ProcessEngine '{LOCAL_KIE_NAME}' of namespace "
            f"{namespace}\n"
        )
    return (
        f"  engine:      {camunda7.url}  (Camunda 7, user {user.username}, password "
        f"{user.password})\n"
        f"               curl -u {user.username}:{user.password} {camunda7.url}/deployment\n"
        f"               the default ProcessEngine '{LOCAL_ENGINE_NAME}' of namespace {namespace}\n"
    )


def _start_line(camunda7: engine.Camunda7Process | None) -> str:
    """The curl that starts an instance of the sample process on the engine."""
    if camunda7 is None or isinstance(camunda7, engine.KieServerProcess):
        return ""  # the sample unit is inline BPMN, which a KIE Server does not take
    user = LOCAL_ENGINE_USER
    return (
        f"  curl -u {user.username}:{user.password} -H Content-Type:application/json -d '{{}}' \\\n"
        f"    {camunda7.url}/process-definition/key/hello/start\n"
    )


def _banner(
    kubeconfig: Path, shim_port: int, camunda7: engine.Camunda7Process | None, namespace: str
) -> str:
    shown = os.path.relpath(kubeconfig) if kubeconfig.is_relative_to(Path.cwd()) else kubeconfig
    return f"""
deployunits is running.
  kubeconfig:  {shown}
  operator:    http://127.0.0.1:8081/healthz
  REST shim:   http://127.0.0.1:{shim_port}  (auth mode 'none': loopback only, no token needed)
{_engine_lines(camunda7, namespace)}
Try, from another shell:
  .venv/bin/kubectl --kubeconfig {shown} get bpm
  .venv/bin/kubectl --kubeconfig {shown} apply -f manifests/samples/inline-unit.yaml
  .venv/bin/kubectl --kubeconfig {shown} wait --for=condition=Ready du/hello-inline
{_start_line(camunda7)}  curl http://127.0.0.1:{shim_port}/healthz
  curl http://127.0.0.1:{shim_port}/engine-rest/deployment/count

How to call the shim here (auth mode 'none') and with a ServiceAccount token (auth mode
'kubernetes'): README.md, section "Calling the REST shim".

Press Ctrl-C to stop everything.
"""


def run(
    cluster: str,
    dev_dir: Path,
    shim_port: int,
    engine_kind: str,
    engine_port: int,
    engine_namespace: str = "default",
) -> int:
    """Start (or reuse) a cluster, install the CRDs, run operator, shim and engine until Ctrl-C."""
    dev_dir.mkdir(parents=True, exist_ok=True)
    kubectl = binaries.kubectl()
    plane: ControlPlane | None = None
    camunda7: engine.Camunda7Process | None = None
    children: list[subprocess.Popen[bytes]] = []

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    # Ctrl-C stops it even when it was started with SIGINT ignored (from a script's background
    # job, as a non-interactive shell starts them).
    signal.signal(signal.SIGINT, stop)
    try:
        if engine_kind == "camunda7":
            # The JVM starts in about 25 s: it comes up while the control plane does.
            camunda7 = engine.Camunda7Process(
                engine.ensure_built(),
                dev_dir / "engine.log",
                credentials=LOCAL_ENGINE_USER,
                port=engine_port,
            )
            camunda7.spawn()
        elif engine_kind == "kie":
            # Java 17 only; it starts in 20 to 50 s, while the control plane does.
            camunda7 = engine.KieServerProcess(
                engine.ensure_built(engine.KIE_MODULE),
                dev_dir / "engine.log",
                credentials=LOCAL_ENGINE_USER,
                port=engine_port,
                repository_url=os.environ.get(
                    "DEPLOYUNITS_MAVEN_REPOSITORY", DEFAULT_MAVEN_REPOSITORY
                ),
            )
            camunda7.spawn()
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
        if camunda7 is not None:
            camunda7.wait_ready()
            # The namespace's default engine: the sample unit reaches this engine.
            subprocess.run(
                [
                    str(kubectl),
                    "--kubeconfig",
                    str(kubeconfig),
                    "apply",
                    "-n",
                    engine_namespace,
                    "-f",
                    "-",
                ],
                input=default_engine_manifests(
                    engine_namespace, camunda7.url, engine_kind
                ).encode(),
                check=True,
                stdout=subprocess.DEVNULL,
            )
        print(_banner(kubeconfig, shim_port, camunda7, engine_namespace), flush=True)
        logs = ["operator.log", "shim.log", *(["engine.log"] if camunda7 is not None else [])]
        print(f"(logs in {dev_dir}: {', '.join(logs)})", flush=True)
        while all(child.poll() is None for child in children) and (
            camunda7 is None or camunda7.running
        ):
            time.sleep(0.5)
        failed = next((child for child in children if child.poll() is not None), None)
        if failed is None:
            print(f"the engine exited; stopping (see {dev_dir}/engine.log)", flush=True)
        else:
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
        if camunda7 is not None:
            camunda7.stop()
        if plane is not None:
            plane.stop()


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and do what it asks."""
    parser = argparse.ArgumentParser(prog="deployunits-devcluster", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("build", help="build (or find) kube-apiserver, controller-manager, etcd")
    commands.add_parser(
        "engines", help="build (or find) the Camunda 7 and KIE Server test engines with Maven"
    )
    commands.add_parser("helm", help="build (or find) the pinned helm")
    commands.add_parser(
        "gitops", help="build (or find) Flux's controllers, Argo CD and kustomize for the tests"
    )
    run_parser = commands.add_parser("run", help="run everything until Ctrl-C")
    run_parser.add_argument("--cluster", choices=["embedded", "existing"], default="embedded")
    run_parser.add_argument("--dev-dir", type=Path, default=REPO / ".dev")
    run_parser.add_argument("--shim-port", type=int, default=8080)
    run_parser.add_argument(
        "--engine",
        choices=["camunda7", "kie", "none"],
        default="camunda7",
        help="the engine to start (kie: a KIE Server, jBPM)",
    )
    run_parser.add_argument("--engine-port", type=int, default=8180, help="0: any free port")
    run_parser.add_argument(
        "--engine-namespace",
        default="default",
        help="the namespace whose default ProcessEngine is the started engine",
    )
    args = parser.parse_args(argv)
    if args.command == "engines":
        print(f"camunda7: {engine.ensure_built()}")
        print(f"kie: {engine.ensure_built(engine.KIE_MODULE)}")
        return 0
    if args.command == "helm":
        print(f"helm: {binaries.helm()}")
        return 0
    if args.command == "gitops":
        tools = gitops.ensure_built()
        print(
            f"flux {gitops.FLUX_VERSION}: {tools.source_controller.parent}\n"
            f"argocd {gitops.ARGOCD_VERSION}, kustomize {gitops.KUSTOMIZE_VERSION}: "
            f"{tools.argocd.parent}"
        )
        return 0
    if args.command == "build":
        found = binaries.ensure_built()
        versions = binaries.pinned_versions()
        print(
            f"kubernetes {versions.kubernetes}, etcd {versions.etcd}: {found.kube_apiserver.parent}"
        )
        return 0
    return run(
        args.cluster,
        args.dev_dir,
        args.shim_port,
        args.engine,
        args.engine_port,
        args.engine_namespace,
    )


if __name__ == "__main__":
    raise SystemExit(main())
