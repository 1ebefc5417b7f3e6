"""The REST shim as a real subprocess (`deployunits-shim`) for tests and benchmarks."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from deployunits.devcluster.plane import _die_with_parent, free_port
from tests.support.cluster import wait_for


@dataclass
class ShimProcess:
    """One shim serving on a free loopback port, with its log in a file."""

    kubeconfig: Path
    log: Path
    #: The default engine's namespace.
    namespace: str = "default"
    auth_mode: str = "none"
    env: dict[str, str] = field(default_factory=dict)
    popen: subprocess.Popen[bytes] | None = None
    port: int = 0

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
            **os.environ,
            "DEPLOYUNITS_KUBECONFIG": str(self.kubeconfig),
            "DEPLOYUNITS_HOST": "127.0.0.1",
            "DEPLOYUNITS_PORT": str(self.port),
            "DEPLOYUNITS_NAMESPACE": self.namespace,
            "DEPLOYUNITS_AUTH_MODE": self.auth_mode,
            **self.env,
        }
        executable = Path(sys.executable).parent / "deployunits-shim"
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                [str(executable)],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
            )
        probe = "/readyz" if ready else "/healthz"
        wait_for(lambda: self._answers(probe), timeout, f"shim {probe}; log:\n{self.tail()}")

    @contextlib.contextmanager
    def serving(self) -> Iterator[ShimProcess]:
        """Started and ready for the block, stopped after it."""
        self.start()
        try:
            yield self
        finally:
            self.stop()

    def _answers(self, probe: str) -> bool:
        assert self.popen is not None
        if self.popen.poll() is not None:
            raise AssertionError(f"shim exited with {self.popen.returncode}:\n{self.tail()}")
        try:
            with urllib.request.urlopen(f"{self.url}{probe}", timeout=2) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def stop(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self.popen = None

    def rss_bytes(self) -> int:
        """Resident memory of the shim process."""
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
