"""Builds (once, with Maven) and runs the project's Camunda 7 engine as a plain loopback process."""

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from base64 import b64encode
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from devcluster.binaries import WRAPPERS, cache_root, locked
from devcluster.plane import free_port
from devcluster.processes import spawn

#: The Maven module of the engine (kept in the repository).
MODULE = WRAPPERS.parent / "engines" / "camunda7"
_HOST = "127.0.0.1"
#: The tiered compiler's first tier and the serial collector start the engine fastest on two
#: shared cores (13 s against 59 s with full tiering, under the same load), and the 200 creates
#: of bench/engine_camunda7.py ran faster too; the heap cap keeps several engines side by side.
DEFAULT_JVM_OPTIONS = ("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xmx512m")


class EngineError(RuntimeError):
    """The engine could not be built or started; the message says why (with the log's tail)."""


def source_digest(module: Path = MODULE) -> str:
    """sha256 over the module's build inputs (pom.xml and src/), so any edit means a new build."""
    digest = hashlib.sha256()
    files = [module / "pom.xml", *sorted(p for p in (module / "src").rglob("*") if p.is_file())]
    for path in files:
        digest.update(path.relative_to(module).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def jar_path(module: Path = MODULE) -> Path:
    """Where the jar built from the module's current sources is cached."""
    return cache_root() / "engines" / f"camunda7-{source_digest(module)[:16]}.jar"


def ensure_built(module: Path = MODULE) -> Path:
    """The cached engine jar, built first with Maven (from Maven Central) when missing."""
    given = os.environ.get("DEPLOYUNITS_CAMUNDA7_JAR")
    if given:
        if not Path(given).is_file():
            raise EngineError(f"DEPLOYUNITS_CAMUNDA7_JAR={given} is not a file")
        return Path(given)
    target = jar_path(module)
    with locked(target.with_suffix(".lock")):
        if target.exists():
            return target
        mvn = shutil.which("mvn")
        if mvn is None or shutil.which("java") is None:
            raise EngineError(
                "Java 17+ and Maven are needed to build the Camunda 7 test engine once; install "
                "them (Debian: apt-get install openjdk-17-jdk-headless maven)"
            )
        # Built in a copy, so the checkout gets no target/ folder and two checkouts never share one.
        with tempfile.TemporaryDirectory(prefix="camunda7-build-") as scratch:
            copy = Path(scratch) / "camunda7"
            shutil.copytree(module, copy, ignore=shutil.ignore_patterns("target"))
            sys.stderr.write(
                "building the Camunda 7 test engine with Maven (once, then cached) ...\n"
            )
            started = time.monotonic()
            result = subprocess.run(
                [mvn, "--batch-mode", "--quiet", "-DskipTests", "package"],
                cwd=copy,
                check=False,
                capture_output=True,
                text=True,
            )
            if result.returncode != 0:
                tail = "\n".join((result.stdout + result.stderr).splitlines()[-40:])
                raise EngineError(
                    f"mvn package failed in a copy of {module} ({result.returncode}):\n{tail}"
                )
            target.parent.mkdir(parents=True, exist_ok=True)
            staged = target.with_suffix(".jar.partial")
            shutil.copyfile(copy / "target" / "camunda7-engine.jar", staged)
            staged.rename(target)
            sys.stderr.write(f"built {target} in {time.monotonic() - started:.0f} s\n")
    return target


@dataclass(frozen=True)
class BasicCredentials:
    """The engine's admin user, whom its HTTP basic auth checks."""

    username: str
    password: str = field(repr=False)

    def header(self) -> str:
        token = b64encode(f"{self.username}:{self.password}".encode()).decode()
        return f"Basic {token}"


@dataclass
class Camunda7Process:
    """One engine process on loopback; use as a context manager or call start() and stop()."""

    jar: Path
    log: Path
    #: HTTP basic auth on the REST API with this user; None leaves the API open.
    credentials: BasicCredentials | None = None
    #: 0 picks a free port at start.
    port: int = 0
    jvm_options: tuple[str, ...] = DEFAULT_JVM_OPTIONS
    #: An H2 database file (its path without `.mv.db`) that outlives the process; None keeps
    #: the database in memory, so that a restart starts empty.
    database: Path | None = None
    start_timeout: float = 180.0
    #: Seconds from start until /version answered, measured by start().
    started_in: float | None = field(default=None, init=False)
    _popen: subprocess.Popen[bytes] | None = field(default=None, init=False)
    _spawned_at: float = field(default=0.0, init=False)

    @property
    def url(self) -> str:
        """The REST API's base (`.../engine-rest`)."""
        return f"http://{_HOST}:{self.port}/engine-rest"

    @property
    def running(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    @property
    def pid(self) -> int | None:
        return self._popen.pid if self._popen is not None else None

    def __enter__(self) -> "Camunda7Process":
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def spawn(self) -> None:
        """Start the JVM without waiting for it (wait_ready() waits)."""
        if self._popen is not None and self._popen.poll() is None:
            return
        if self.port == 0:
            self.port = free_port()
        env = {**os.environ, "ENGINE_AUTH_ENABLED": str(self.credentials is not None).lower()}
        if self.credentials is not None:
            # From the environment rather than the command line, which every local user can read.
            env["CAMUNDA_BPM_ADMINUSER_ID"] = self.credentials.username
            env["CAMUNDA_BPM_ADMINUSER_PASSWORD"] = self.credentials.password
        command = [
            "java",
            *self.jvm_options,
            "-jar",
            str(self.jar),
            f"--server.port={self.port}",
            f"--server.address={_HOST}",
        ]
        if self.database is not None:
            command.append(
                f"--spring.datasource.url=jdbc:h2:file:{self.database};DB_CLOSE_ON_EXIT=FALSE"
            )
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self._popen = spawn(command, env, self.log)
        self._spawned_at = time.monotonic()

    def wait_ready(self) -> None:
        """Wait until GET /version answers 200; raise EngineError with the log's tail if not."""
        assert self._popen is not None, "the engine was not spawned"
        deadline = self._spawned_at + self.start_timeout
        request = urllib.request.Request(f"{self.url}/version")
        if self.credentials is not None:
            request.add_header("Authorization", self.credentials.header())
        while time.monotonic() < deadline:
            if self._popen.poll() is not None:
                raise EngineError(f"the engine exited ({self._popen.returncode}):\n{self.tail()}")
            try:
                with urllib.request.urlopen(request, timeout=2) as answer:
                    if answer.status == 200:
                        self.started_in = time.monotonic() - self._spawned_at
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.25)
        raise EngineError(f"the engine did not answer within {self.start_timeout}s:\n{self.tail()}")

    def start(self) -> None:
        """Start the engine and wait until its REST API answers."""
        self.spawn()
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the engine (SIGTERM, then SIGKILL); its in-memory data is gone."""
        if self._popen is None:
            return
        if self._popen.poll() is None:
            self._popen.terminate()
            try:
                self._popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self._popen.kill()
                self._popen.wait()
        self._popen = None

    def kill(self) -> None:
        """kill -9, as a crash or a pulled plug would: nothing is shut down in order."""
        if self._popen is None:
            return
        if self._popen.poll() is None:
            self._popen.kill()
            self._popen.wait()
        self._popen = None

    def rss_bytes(self) -> int | None:
        """The resident memory of the JVM now (Linux), for figures."""
        if self.pid is None:
            return None
        try:
            status = Path(f"/proc/{self.pid}/status").read_text()
        except OSError:
            return None
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return None

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""
