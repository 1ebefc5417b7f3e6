"""Builds (once, with Maven) and runs the project's engines (Camunda 7, KIE Server) on loopback."""

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
#: The Maven module of the KIE Server (jBPM) test engine.
KIE_MODULE = WRAPPERS.parent / "engines" / "kie"
#: The jar each module's `mvn package` leaves in target/ (its pom's finalName).
_BUILT_JAR = {"camunda7": "camunda7-engine.jar", "kie": "kie-server.jar"}
#: The environment variable that names a prebuilt jar instead of building one, per module.
_GIVEN_JAR = {"camunda7": "DEPLOYUNITS_CAMUNDA7_JAR", "kie": "DEPLOYUNITS_KIE_SERVER_JAR"}
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
    return cache_root() / "engines" / f"{module.name}-{source_digest(module)[:16]}.jar"


def ensure_built(module: Path = MODULE) -> Path:
    """The cached engine jar, built first with Maven (from Maven Central) when missing."""
    variable = _GIVEN_JAR[module.name]
    given = os.environ.get(variable)
    if given:
        if not Path(given).is_file():
            raise EngineError(f"{variable}={given} is not a file")
        return Path(given)
    what = "the KIE Server" if module.name == "kie" else "the Camunda 7"
    target = jar_path(module)
    with locked(target.with_suffix(".lock")):
        if target.exists():
            return target
        mvn = shutil.which("mvn")
        if mvn is None or shutil.which("java") is None:
            raise EngineError(
                f"Java 17+ and Maven are needed to build {what} test engine once; install "
                "them (Debian: apt-get install openjdk-17-jdk-headless maven)"
            )
        # Built in a copy, so the checkout gets no target/ folder and two checkouts never share one.
        with tempfile.TemporaryDirectory(prefix=f"{module.name}-build-") as scratch:
            copy = Path(scratch) / module.name
            shutil.copytree(module, copy, ignore=shutil.ignore_patterns("target"))
            sys.stderr.write(f"building {what} test engine with Maven (once, then cached) ...\n")
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
            shutil.copyfile(copy / "target" / _BUILT_JAR[module.name], staged)
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
        command, env = self._command()
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self._popen = spawn(command, env, self.log)
        self._spawned_at = time.monotonic()

    def _command(self) -> tuple[list[str], dict[str, str]]:
        """The command line and environment of the JVM."""
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
        return command, env

    def _ready_url(self) -> str:
        """What answers 200 once the engine is up."""
        return f"{self.url}/version"

    def wait_ready(self) -> None:
        """Wait until the engine answers 200; raise EngineError with the log's tail if not."""
        assert self._popen is not None, "the engine was not spawned"
        deadline = self._spawned_at + self.start_timeout
        request = urllib.request.Request(self._ready_url())
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


#: Where Debian and most distributions keep a Java 17 beside a newer default `java`.
_JAVA17_HOMES = ("/usr/lib/jvm/java-17-openjdk-amd64", "/usr/lib/jvm/java-17-openjdk-arm64")


def java17() -> str:
    """A Java 17 `java`: KIE Server 7.74 does not start on 21+ (mvel2 uses java.lang.Compiler)."""
    given = os.environ.get("DEPLOYUNITS_KIE_JAVA")
    if given:
        return given
    for home in (os.environ.get("JAVA_HOME", ""), *_JAVA17_HOMES):
        candidate = Path(home) / "bin" / "java"
        if home and candidate.is_file() and _major(str(candidate)) == 17:
            return str(candidate)
    found = shutil.which("java")
    if found is not None and _major(found) == 17:
        return found
    raise EngineError(
        "KIE Server 7.74 needs Java 17 (it does not start on 21+); install it (Debian: apt-get "
        "install openjdk-17-jre-headless) or name its java in DEPLOYUNITS_KIE_JAVA"
    )


def _major(java: str) -> int | None:
    result = subprocess.run(
        [java, "-XshowSettings:properties", "-version"],
        check=False,
        capture_output=True,
        text=True,
    )
    for line in result.stderr.splitlines():
        if "java.specification.version" in line:
            return int(line.split("=")[1].strip().split(".")[0])
    return None


def maven_settings(repository_url: str, local_repository: Path) -> str:
    """A Maven settings.xml that makes `repository_url` the KIE Server's one remote repository
    (kjars are resolved from it, as the operator resolves them) and keeps its local repository
    apart from the user's ~/.m2, so that nothing cached there hides a missing kjar."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<settings xmlns="http://maven.apache.org/SETTINGS/1.0.0">
  <localRepository>{local_repository}</localRepository>
  <offline>false</offline>
  <mirrors>
    <mirror>
      <id>deployunits</id>
      <mirrorOf>*</mirrorOf>
      <url>{repository_url}</url>
    </mirror>
  </mirrors>
  <profiles>
    <profile>
      <id>deployunits</id>
      <repositories>
        <repository>
          <id>deployunits</id>
          <url>{repository_url}</url>
          <releases><enabled>true</enabled><updatePolicy>always</updatePolicy></releases>
          <snapshots><enabled>true</enabled><updatePolicy>always</updatePolicy></snapshots>
        </repository>
      </repositories>
    </profile>
  </profiles>
  <activeProfiles>
    <activeProfile>deployunits</activeProfile>
  </activeProfiles>
</settings>
"""


@dataclass
class KieServerProcess(Camunda7Process):
    """One KIE Server (jBPM) on loopback, resolving kjars from `repository_url` only.

    Its REST API is under `url` (`.../rest/server`), always behind HTTP basic auth: the server
    takes the caller's identity from it.
    """

    #: The Maven repository the server resolves kjars from (its settings.xml's only one).
    repository_url: str = ""
    #: The serial collector keeps the RSS near the heap; the server holds every container's
    #: compiled kbase, so it gets a larger heap than the Camunda engine.
    jvm_options: tuple[str, ...] = ("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xmx768m")

    @property
    def url(self) -> str:
        """The REST API's base (`.../rest/server`)."""
        return f"http://{_HOST}:{self.port}/rest/server"

    def _command(self) -> tuple[list[str], dict[str, str]]:
        if self.credentials is None:
            raise EngineError("the KIE Server needs credentials: its API is never open")
        env = {
            **os.environ,
            # From the environment rather than the command line, which every local user can read.
            "KIE_USER_NAME": self.credentials.username,
            "KIE_USER_PASSWORD": self.credentials.password,
        }
        work = self.log.parent / "kie-server"
        work.mkdir(parents=True, exist_ok=True)
        settings = work / "settings.xml"
        settings.write_text(maven_settings(self.repository_url, work / "m2"))
        command = [
            java17(),
            *self.jvm_options,
            f"-Dkie.maven.settings.custom={settings}",
            # Where the server keeps its state file of containers (per process, not the cwd).
            f"-Dorg.kie.server.repo={work}",
            "-jar",
            str(self.jar),
            f"--server.port={self.port}",
            f"--server.address={_HOST}",
            f"--kieserver.location={self.url}",
        ]
        return command, env

    def _ready_url(self) -> str:
        return self.url
