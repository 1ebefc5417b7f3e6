"""Flux's and Argo CD's real controllers as plain processes against a cluster, for the GitOps
tests and benchmark.

The binaries come from `devcluster.gitops` (built once from the Go module proxy, cached); the
CRDs from the same modules' sources in the Go module cache. Everything binds to loopback except
Argo CD's application-controller metrics port, which has no address flag.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from devcluster import gitops, install
from devcluster.plane import free_port
from devcluster.processes import ManagedProcess


@dataclass(frozen=True)
class Kube:
    """kubectl as the cluster's admin: where the controllers install their CRDs and settings."""

    kubectl: Path
    kubeconfig: Path

    def run(self, *args: str, input: str | None = None) -> str:
        return install.run_kubectl(self.kubectl, self.kubeconfig, *args, input=input).stdout

    def apply(self, objects: list[dict[str, Any]], namespace: str) -> None:
        self.run("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump_all(objects))

    def apply_crds(self, files: list[Path]) -> None:
        """Install CRDs server-side (Argo CD's are too large for a client-side apply
        annotation) and wait until they are served."""
        for file in files:
            self.run("apply", "--server-side", "--force-conflicts", "-f", str(file))
        for file in files:
            self.run("wait", "--for=condition=Established", "--timeout=60s", "-f", str(file))


@dataclass
class Controller(ManagedProcess):
    """One controller process with its log, run against the kubeconfig (`KUBECONFIG`) and
    probed on a loopback health URL; `env` is added to this process's environment."""

    command: list[str]
    #: None for a program that answers no HTTP (redis, whose clients retry): started unprobed.
    health_url: str | None = None
    name: str = "controller"

    def start(self, timeout: float = 60) -> None:
        """Start it and wait until its health URL answers 200 (without one, only start it)."""
        env = {"KUBECONFIG": str(self.kubeconfig)}
        if self.health_url is None:
            self._spawn(self.command, env)
        else:
            self._launch(self.command, env, self.health_url, timeout)


#: The project's Flux Kustomization for a folder of units.
FLUX_KUSTOMIZATION = install.REPO / "manifests/flux/bpm-units.yaml"
KUSTOMIZATION = "kustomizations.kustomize.toolkit.fluxcd.io"
GIT_REPOSITORY = "gitrepositories.source.toolkit.fluxcd.io"


@dataclass
class Flux:
    """source-controller and kustomize-controller, watching every namespace."""

    kube: Kube
    workdir: Path
    #: Where the controllers record their events (RUNTIME_NAMESPACE).
    namespace: str
    controllers: list[Controller] = field(default_factory=list)

    def start(self) -> None:
        source_controller, kustomize_controller = gitops.ensure_flux()
        self.kube.apply_crds(gitops.flux_crds())
        env = {"RUNTIME_NAMESPACE": self.namespace}
        (self.workdir / "storage").mkdir()
        storage = f"127.0.0.1:{free_port()}"
        common = [
            "--watch-all-namespaces=true",
            "--enable-leader-election=false",
            "--log-level=debug",
        ]
        for name, binary, extra in (
            (
                "source-controller",
                source_controller,
                [
                    f"--storage-path={self.workdir / 'storage'}",
                    f"--storage-addr={storage}",
                    f"--storage-adv-addr={storage}",
                ],
            ),
            ("kustomize-controller", kustomize_controller, []),
        ):
            health = free_port()
            controller = Controller(
                self.kube.kubeconfig,
                self.workdir / f"{name}.log",
                name=name,
                command=[
                    str(binary),
                    *common,
                    *extra,
                    f"--metrics-addr=127.0.0.1:{free_port()}",
                    f"--health-addr=127.0.0.1:{health}",
                ],
                health_url=f"http://127.0.0.1:{health}/readyz",
                env=env,
            )
            self.controllers.append(controller)
            controller.start()

    def stop(self) -> None:
        for controller in self.controllers:
            controller.stop()

    def sync(self, name: str, namespace: str, url: str) -> None:
        """A GitRepository on `url` (branch main) and the project's Kustomization
        (`manifests/flux/bpm-units.yaml`: `wait`, `prune`, `healthCheckExprs`) applying its
        root folder to `namespace`, both called `name`."""
        kustomization: dict[str, Any] = yaml.safe_load(FLUX_KUSTOMIZATION.read_text())
        kustomization["metadata"] = {"name": name, "namespace": namespace}
        kustomization["spec"].update(
            path="./",
            sourceRef={"kind": "GitRepository", "name": name},
            targetNamespace=namespace,
            interval="10m",
            retryInterval="5s",
            timeout="90s",
        )
        repository = {
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "GitRepository",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"url": url, "ref": {"branch": "main"}, "interval": "10m"},
        }
        self.kube.apply([repository, kustomization], namespace)

    def refresh(self, name: str, namespace: str) -> None:
        """Fetch now (`flux reconcile source git`, what a Git webhook asks for)."""
        self.kube.run(
            "annotate",
            "--overwrite",
            "-n",
            namespace,
            GIT_REPOSITORY,
            name,
            f"reconcile.fluxcd.io/requestedAt={time.time()}",
        )

    def kustomization(self, name: str, namespace: str) -> dict[str, Any]:
        found: dict[str, Any] = json.loads(
            self.kube.run("get", KUSTOMIZATION, name, "-n", namespace, "-o", "json")
        )
        return found

    def ready_at(self, name: str, namespace: str, commit: str) -> str | None:
        """The Kustomization's Ready status ("True", "False", "Unknown") once it has acted on
        `commit`; None before."""
        status = self.kustomization(name, namespace).get("status", {})
        if commit not in status.get("lastAttemptedRevision", ""):
            return None
        ready = [c for c in status.get("conditions", []) if c["type"] == "Ready"]
        return str(ready[0]["status"]) if ready else None

    def logs(self) -> str:
        return "\n".join(f"--- {c.name}:\n{c.tail()}" for c in self.controllers)


#: The project's Argo CD health check, under the keys argocd-cm gives it for both kinds.
HEALTH_LUA = install.REPO / "manifests/argocd/health.lua"
APPLICATION = "applications.argoproj.io"


@dataclass
class ArgoCD:
    """Argo CD's repo-server and application-controller (one `argocd` binary, named by argv[0]),
    with Debian's redis-server as their cache, managing Applications in `namespace`."""

    kube: Kube
    workdir: Path
    namespace: str
    controllers: list[Controller] = field(default_factory=list)

    def settings(self) -> list[dict[str, Any]]:
        """What Argo CD reads before it starts: argocd-cm (with the project's health.lua),
        argocd-secret, argocd-rbac-cm and the `default` AppProject."""
        lua = HEALTH_LUA.read_text()
        meta = {"namespace": self.namespace, "labels": {"app.kubernetes.io/part-of": "argocd"}}
        return [
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "argocd-cm", **meta},
                "data": {
                    "resource.customizations.health.bpm.deployunits.io_DeploymentUnit": lua,
                    "resource.customizations.health.bpm.deployunits.io_Redeploy": lua,
                },
            },
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "argocd-secret", **meta},
                "stringData": {"server.secretkey": "deployunits-tests-only"},
            },
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "argocd-rbac-cm", **meta},
            },
            {
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "AppProject",
                "metadata": {"name": "default", "namespace": self.namespace},
                "spec": {
                    "sourceRepos": ["*"],
                    "destinations": [{"server": "*", "namespace": "*"}],
                    "clusterResourceWhitelist": [{"group": "*", "kind": "*"}],
                },
            },
        ]

    def start(self) -> None:
        argocd, kustomize = gitops.ensure_argocd()
        self.kube.apply_crds(gitops.argocd_crds())
        self.kube.apply(self.settings(), self.namespace)
        programs = self.workdir / "bin"
        programs.mkdir()
        for name in ("argocd-repo-server", "argocd-application-controller"):
            (programs / name).symlink_to(argocd)
        (programs / "kustomize").symlink_to(kustomize)
        redis_port, repo_port = free_port(), free_port()
        redis = Controller(
            self.kube.kubeconfig,
            self.workdir / "redis.log",
            name="redis-server",
            command=[
                which("redis-server"),
                "--bind",
                "127.0.0.1",
                "--port",
                str(redis_port),
                "--save",
                "",
                "--appendonly",
                "no",
            ],
        )
        env = {
            # Take the kubeconfig's cluster as the in-cluster one (https://kubernetes.default.svc).
            "ARGOCD_FAKE_IN_CLUSTER": "true",
            # The repo-server runs kustomize from PATH.
            "PATH": f"{programs}:{os.environ['PATH']}",
            "HOME": str(self.workdir),
            # Commit signature checks need a GnuPG keyring under /app/config (the image's).
            "ARGOCD_GPG_ENABLED": "false",
        }
        redis_flag = f"--redis=127.0.0.1:{redis_port}"
        repo_metrics = free_port()
        repo_server = Controller(
            self.kube.kubeconfig,
            self.workdir / "repo-server.log",
            name="argocd-repo-server",
            command=[
                str(programs / "argocd-repo-server"),
                "--address=127.0.0.1",
                f"--port={repo_port}",
                "--metrics-address=127.0.0.1",
                f"--metrics-port={repo_metrics}",
                "--disable-tls",
                redis_flag,
                "--loglevel=debug",
            ],
            health_url=f"http://127.0.0.1:{repo_metrics}/healthz",
            env=env,
        )
        # Its metrics (and /healthz) listen on 0.0.0.0: the port has no address flag.
        controller_metrics = free_port()
        application_controller = Controller(
            self.kube.kubeconfig,
            self.workdir / "application-controller.log",
            name="argocd-application-controller",
            command=[
                str(programs / "argocd-application-controller"),
                f"--namespace={self.namespace}",
                f"--repo-server=127.0.0.1:{repo_port}",
                "--repo-server-plaintext",
                f"--metrics-port={controller_metrics}",
                redis_flag,
                "--app-resync=180",
                # Keep each resource's health in the Application's status, where tests read it.
                "--persist-resource-health=true",
                "--self-heal-timeout-seconds=1",
                "--loglevel=debug",
            ],
            health_url=f"http://127.0.0.1:{controller_metrics}/healthz",
            env=env,
        )
        redis.start()
        self.controllers.append(redis)
        for controller in (repo_server, application_controller):
            self.controllers.append(controller)
            controller.start(timeout=120)

    def stop(self) -> None:
        for controller in reversed(self.controllers):
            controller.stop()

    def sync(self, name: str, url: str, destination: str) -> None:
        """An Application `name` syncing the root folder of `url` (branch main) into
        `destination`, automatically, with prune and self-heal."""
        application = {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Application",
            "metadata": {"name": name, "namespace": self.namespace},
            "spec": {
                "project": "default",
                "source": {"repoURL": url, "targetRevision": "main", "path": "."},
                "destination": {
                    "server": "https://kubernetes.default.svc",
                    "namespace": destination,
                },
                "syncPolicy": {"automated": {"prune": True, "selfHeal": True}},
            },
        }
        self.kube.apply([application], self.namespace)

    def refresh(self, name: str) -> None:
        """Look at Git now (what Git's webhook asks for)."""
        self.kube.run(
            "annotate",
            "--overwrite",
            "-n",
            self.namespace,
            APPLICATION,
            name,
            "argocd.argoproj.io/refresh=normal",
        )

    def application(self, name: str) -> dict[str, Any]:
        found: dict[str, Any] = json.loads(
            self.kube.run("get", APPLICATION, name, "-n", self.namespace, "-o", "json")
        )
        return found

    def health_at(self, name: str, commit: str) -> str | None:
        """The Application's health ("Healthy", "Degraded", "Progressing", ...) once it is
        Synced at `commit`; None before."""
        status = self.application(name).get("status", {})
        sync = status.get("sync", {})
        if sync.get("status") != "Synced" or sync.get("revision") != commit:
            return None
        return str(status.get("health", {}).get("status")) or None

    def logs(self) -> str:
        return "\n".join(f"--- {c.name}:\n{c.tail()}" for c in self.controllers)


def which(program: str) -> str:
    found = shutil.which(program)
    if found is None:
        raise RuntimeError(f"{program} is needed on PATH (make redis installs redis-server)")
    return found
