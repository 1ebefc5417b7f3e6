"""Starts etcd, kube-apiserver and kube-controller-manager as plain loopback processes."""

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import yaml

from devcluster.binaries import Binaries
from devcluster.certs import KeyPair, TinyCA, service_account_signing_key

_PR_SET_PDEATHSIG = 1
_HOST = "127.0.0.1"


class ControlPlaneError(RuntimeError):
    """The control plane did not start; the message carries the tail of the failing log."""


def free_port() -> int:
    """A TCP port on loopback that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((_HOST, 0))
        return int(probe.getsockname()[1])


def die_with_parent() -> None:
    # Runs in the child before exec: the kernel kills it when the starting thread goes away,
    # so no etcd or apiserver outlives a test run that was killed outright.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


@dataclass
class _Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    command: list[str]
    #: Stopped on purpose (a drill): not a failure, and start_* runs it again.
    halted: bool = False

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass(frozen=True)
class User:
    """A client-certificate user and the kubeconfig that authenticates as it."""

    name: str
    groups: tuple[str, ...]
    kubeconfig: Path


@dataclass
class ControlPlane:
    """A local control plane; use as a context manager or call start() and stop()."""

    binaries: Binaries
    #: Where certificates, logs, kubeconfigs and etcd data live; a temporary folder when None.
    workdir: Path | None = None
    #: Keep etcd data between starts (make run); tests want a fresh store.
    keep_data: bool = False
    with_controller_manager: bool = True
    start_timeout: float = 60.0
    admin: User | None = field(default=None, init=False)
    url: str = field(default="", init=False)
    _processes: list[_Process] = field(default_factory=list, init=False)
    _owns_workdir: bool = field(default=False, init=False)
    _ca: TinyCA | None = field(default=None, init=False)
    _ca_file: Path | None = field(default=None, init=False)
    _etcd_url: str = field(default="", init=False)

    @property
    def directory(self) -> Path:
        assert self.workdir is not None, "the control plane is not started"
        return self.workdir

    @property
    def etcd_url(self) -> str:
        """etcd's client URL (plain HTTP on loopback; its /v3 gateway answers JSON)."""
        assert self._etcd_url, "the control plane is not started"
        return self._etcd_url

    @property
    def kubeconfig(self) -> Path:
        """The admin kubeconfig (user `admin`, group `system:masters`)."""
        assert self.admin is not None, "the control plane is not started"
        return self.admin.kubeconfig

    def __enter__(self) -> "ControlPlane":
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Start every process and wait until the API server is ready."""
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="deployunits-plane-"))
            self._owns_workdir = True
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        pki = self.directory / "pki"
        pki.mkdir(exist_ok=True)
        serving_ca, self._ca = TinyCA("deployunits-serving-ca"), TinyCA("deployunits-client-ca")
        serving_ca_file, _ = serving_ca.pair.write(pki, "serving-ca")
        self._ca_file = serving_ca_file
        client_ca_file, _ = self._ca.pair.write(pki, "client-ca")
        serving_cert, serving_key = serving_ca.issue(
            "kube-apiserver",
            dns_names=("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"),
            ip_addresses=(_HOST,),
            server=True,
        ).write(pki, "apiserver")
        sa_public, sa_private = service_account_signing_key().write(pki, "sa-signer")

        etcd_url = self._start_etcd()
        port = free_port()
        self.url = f"https://{_HOST}:{port}"
        self._spawn(
            "kube-apiserver",
            [
                str(self.binaries.kube_apiserver),
                f"--etcd-servers={etcd_url}",
                f"--bind-address={_HOST}",
                f"--advertise-address={_HOST}",
                f"--secure-port={port}",
                f"--cert-dir={pki}",
                f"--tls-cert-file={serving_cert}",
                f"--tls-private-key-file={serving_key}",
                f"--client-ca-file={client_ca_file}",
                "--authorization-mode=RBAC",
                "--service-cluster-ip-range=10.0.0.0/24",
                "--allow-privileged=true",
                # No kubelet and no pods here: the ServiceAccount admission would only get in
                # the way of tests that create objects before the default account exists.
                "--disable-admission-plugins=ServiceAccount",
                f"--service-account-issuer={self.url}",
                f"--service-account-key-file={sa_public}",
                f"--service-account-signing-key-file={sa_private}",
                "--enable-priority-and-fairness=true",
                # MutatingAdmissionPolicy is beta (off by default) in 1.35; manifests/admission-beta
                # uses it to put the operator's finalizer on at creation.
                "--feature-gates=MutatingAdmissionPolicy=true",
                "--runtime-config=admissionregistration.k8s.io/v1beta1=true",
                "--v=1",
            ],
        )
        admin = self.add_user("admin", ("system:masters",))
        self.admin = admin
        self._wait_ready(admin)
        if self.with_controller_manager and self.binaries.kube_controller_manager is not None:
            # system:masters because the controllers run under the manager's own identity
            # here (no per-controller ServiceAccount credentials on a plane without pods).
            manager = self.add_user("system:kube-controller-manager", ("system:masters",))
            self._spawn(
                "kube-controller-manager",
                [
                    str(self.binaries.kube_controller_manager),
                    f"--kubeconfig={manager.kubeconfig}",
                    f"--authentication-kubeconfig={manager.kubeconfig}",
                    f"--authorization-kubeconfig={manager.kubeconfig}",
                    "--leader-elect=false",
                    "--secure-port=0",
                    # Garbage collection of owned objects and namespace clean-up are what the
                    # operator relies on; the rest of the controllers need nodes and pods.
                    "--controllers=garbage-collector-controller,namespace-controller,"
                    "serviceaccount-controller,serviceaccount-token-controller,"
                    "root-ca-certificate-publisher-controller",
                    f"--service-account-private-key-file={sa_private}",
                    f"--root-ca-file={serving_ca_file}",
                    "--use-service-account-credentials=false",
                    "--v=1",
                ],
            )

    def _start_etcd(self) -> str:
        data = self.directory / "etcd"
        if not self.keep_data and data.exists():
            shutil.rmtree(data)
        client_port, peer_port = free_port(), free_port()
        client_url = f"http://{_HOST}:{client_port}"
        peer_url = f"http://{_HOST}:{peer_port}"
        self._spawn(
            "etcd",
            [
                str(self.binaries.etcd),
                f"--data-dir={data}",
                f"--listen-client-urls={client_url}",
                f"--advertise-client-urls={client_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=default={peer_url}",
                "--unsafe-no-fsync=true",
                "--log-level=warn",
            ],
        )
        self._etcd_url = client_url
        self._poll(f"{client_url}/health", "etcd", None)
        return client_url

    def _spawn(self, name: str, command: list[str]) -> None:
        log = self.directory / f"{name}.log"
        self._processes.append(_Process(name, self._popen(command, log), log, command))

    @staticmethod
    def _popen(command: list[str], log: Path) -> subprocess.Popen[bytes]:
        with log.open("ab") as out:
            return subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent,
            )

    def _named(self, name: str) -> _Process:
        for process in self._processes:
            if process.name == name:
                return process
        raise ControlPlaneError(f"{name} is not part of this control plane")

    def _halt(self, name: str, timeout: float) -> None:
        process = self._named(name)
        process.halted = True
        _terminate(process.popen, timeout)

    def _resume(self, name: str) -> None:
        # Same command line: same ports, certificates and data directory as before.
        process = self._named(name)
        if process.popen.poll() is None:
            return
        process.popen = self._popen(process.command, process.log)
        process.halted = False

    def stop_api_server(self, timeout: float = 10.0) -> None:
        """Stop kube-apiserver (SIGTERM, then SIGKILL after timeout); etcd keeps running."""
        self._halt("kube-apiserver", timeout)

    def start_api_server(self) -> None:
        """Start kube-apiserver again on its port and wait until it is ready."""
        self._resume("kube-apiserver")
        assert self.admin is not None
        self._wait_ready(self.admin)

    def stop_etcd(self, timeout: float = 10.0) -> None:
        """Stop etcd; its data directory stays (start_etcd serves the same store)."""
        self._halt("etcd", timeout)

    def start_etcd(self) -> None:
        """Start etcd again on its ports over the same data and wait until it is healthy."""
        self._resume("etcd")
        self._poll(f"{self.etcd_url}/health", "etcd", None)

    def _poll(self, url: str, name: str, context: ssl.SSLContext | None) -> None:
        deadline = time.monotonic() + self.start_timeout
        last_error = ""
        while time.monotonic() < deadline:
            for process in self._processes:
                if process.popen.poll() is not None and not process.halted:
                    raise ControlPlaneError(
                        f"{process.name} exited with {process.popen.returncode}:\n{process.tail()}"
                    )
            try:
                with urllib.request.urlopen(url, timeout=2, context=context) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError) as error:
                last_error = str(error)
            time.sleep(0.1)
        raise ControlPlaneError(f"{name} not ready after {self.start_timeout}s: {last_error}")

    def _wait_ready(self, user: User) -> None:
        context = ssl.create_default_context(cafile=str(self._ca_file))
        pki = self.directory / "pki"
        context.load_cert_chain(pki / f"user-{user.name}.crt", pki / f"user-{user.name}.key")
        self._poll(f"{self.url}/readyz", "kube-apiserver", context)

    def add_user(self, name: str, groups: tuple[str, ...]) -> User:
        """A client-certificate user (CN=name, O=groups) with a kubeconfig of its own."""
        assert self._ca is not None and self._ca_file is not None, "start() first"
        safe = name.replace(":", "-")
        pki = self.directory / "pki"
        pair: KeyPair = self._ca.issue(name, organizations=groups)
        cert, key = pair.write(pki, f"user-{safe}")
        if safe != name:
            # _wait_ready and callers look users up by their plain name.
            pair.write(pki, f"user-{name}")
        kubeconfig = self.directory / f"{safe}.kubeconfig"
        write_kubeconfig(kubeconfig, self.url, self._ca_file, cert, key, user=safe)
        return User(name, groups, kubeconfig)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop every process (newest first) and remove a temporary working folder."""
        # One at a time: an API server whose etcd is already gone waits out its own timeouts.
        for process in reversed(self._processes):
            _terminate(process.popen, timeout)
        self._processes.clear()
        if self._owns_workdir and self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None
            self._owns_workdir = False

    def processes(self) -> dict[str, int]:
        """Name → pid of every running process (for drills and diagnostics)."""
        return {p.name: p.popen.pid for p in self._processes if p.popen.poll() is None}

    def logs(self) -> dict[str, str]:
        """Name → tail of each process log."""
        return {p.name: p.tail(60) for p in self._processes}


def _terminate(popen: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM, then SIGKILL if the process is still there after timeout seconds."""
    if popen.poll() is None:
        popen.send_signal(signal.SIGTERM)
    try:
        popen.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        popen.kill()
        popen.wait()


def write_kubeconfig(
    path: Path, server: str, ca_file: Path, cert: Path, key: Path, *, user: str
) -> None:
    """A kubeconfig with one cluster, user and context named after the user."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "deployunits",
                "cluster": {"server": server, "certificate-authority": str(ca_file)},
            }
        ],
        "users": [
            {"name": user, "user": {"client-certificate": str(cert), "client-key": str(key)}}
        ],
        "contexts": [
            {
                "name": f"deployunits-{user}",
                "context": {"cluster": "deployunits", "user": user, "namespace": "default"},
            }
        ],
        "current-context": f"deployunits-{user}",
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    with contextlib.suppress(OSError):
        os.chmod(path, 0o600)
