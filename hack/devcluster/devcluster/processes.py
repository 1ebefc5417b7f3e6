"""The operator and the shim as real subprocesses, for `make run`, tests and benchmarks."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path

from devcluster.plane import die_with_parent, free_port

#: Where the project's console scripts are: beside the interpreter of this environment.
SCRIPTS = Path(sys.executable).parent


def spawn(command: list[str], env: dict[str, str], log: Path | None) -> subprocess.Popen[bytes]:
    """Start a child that dies with this process, its output appended to `log` (or inherited)."""
    out = log.open("ab") if log is not None else None
    try:
        return subprocess.Popen(
            command,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT if out else None,
            preexec_fn=die_with_parent,
        )
    finally:
        if out is not None:
            out.close()


def wait_for(predicate: Callable[[], bool], timeout: float = 30, what: str = "condition") -> None:
    """Poll until predicate() is true; fail with `what` after timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@dataclass
class ManagedProcess:
    """One of the project's programs, run against a kubeconfig with its output in a log file.

    Subclasses say how to start it (`start`); starting, probing and stopping are shared.
    """

    kubeconfig: Path
    log: Path
    _: KW_ONLY
    env: dict[str, str] = field(default_factory=dict)
    popen: subprocess.Popen[bytes] | None = None

    #: The program's name in failure messages.
    name = "process"

    def _spawn(self, command: list[str], env: dict[str, str]) -> None:
        """Start `command` with this environment plus `env` (and `self.env` over both)."""
        full = {**os.environ, "DEPLOYUNITS_KUBECONFIG": str(self.kubeconfig), **env, **self.env}
        self.popen = spawn(command, full, self.log)

    def _launch(self, command: list[str], env: dict[str, str], url: str, timeout: float) -> None:
        """Start `command` with this environment plus `env`; wait until `url` answers 200."""
        self._spawn(command, env)
        wait_for(lambda: self._answers(url), timeout, f"{self.name} {url}; log:\n{self.tail()}")

    def _answers(self, url: str) -> bool:
        assert self.popen is not None
        if self.popen.poll() is not None:
            raise AssertionError(f"{self.name} exited with {self.popen.returncode}:\n{self.tail()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not exited within 15 s."""
        if self.popen is not None and self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self.popen = None

    def kill(self) -> None:
        """kill -9, as a crash would."""
        if self.popen is not None:
            self.popen.kill()
            self.popen.wait()
        self.popen = None

    def rss_bytes(self) -> int:
        """Resident memory of the process."""
        assert self.popen is not None
        for line in Path(f"/proc/{self.popen.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    def tail(self, lines: int = 80) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class OperatorProcess(ManagedProcess):
    """The operator (`deployunits-operator`), restartable and killable."""

    args: list[str] = field(default_factory=lambda: ["--standalone"])
    probe_port: int = 0
    #: Another program in the operator's place (bench/baselines/least_operator.py); the same
    #: environment.
    command: list[str] | None = None

    name = "operator"

    def start(self, timeout: float = 60) -> None:
        self.probe_port = free_port()
        env = {
            "DEPLOYUNITS_PROBE_HOST": "127.0.0.1",
            "DEPLOYUNITS_PROBE_PORT": str(self.probe_port),
        }
        command = self.command or [str(SCRIPTS / "deployunits-operator")]
        url = f"http://127.0.0.1:{self.probe_port}/healthz"
        self._launch([*command, *self.args], env, url, timeout)


@dataclass
class ShimProcess(ManagedProcess):
    """One shim serving on a free loopback port."""

    #: The default engine's namespace.
    namespace: str = "default"
    auth_mode: str = "none"
    port: int = 0

    name = "shim"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def engine(self, name: str | None = None) -> str:
        """The base URL of the default engine, or of a named engine (a namespace)."""
        root = f"{self.url}/engine-rest"
        return root if name is None else f"{root}/engine/{name}"

    def start(self, timeout: float = 60, *, ready: bool = True) -> None:
        """Start the shim and wait until it is ready (or only alive, with ready=False)."""
        self.port = free_port()
        env = {
            "DEPLOYUNITS_HOST": "127.0.0.1",
            "DEPLOYUNITS_PORT": str(self.port),
            "DEPLOYUNITS_NAMESPACE": self.namespace,
            "DEPLOYUNITS_AUTH_MODE": self.auth_mode,
        }
        probe = "/readyz" if ready else "/healthz"
        self._launch([str(SCRIPTS / "deployunits-shim")], env, f"{self.url}{probe}", timeout)

    @contextlib.contextmanager
    def serving(self) -> Iterator[ShimProcess]:
        """Started and ready for the block, stopped after it."""
        self.start()
        try:
            yield self
        finally:
            self.stop()
