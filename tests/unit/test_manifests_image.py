"""The image: built from exactly the wheel's console scripts, small, non-root, read-only.

What can be checked without a container engine (tests/integration/test_image.py builds the image
with podman and runs it):
- Dockerfile: a builder stage that makes wheels and installs only those (no index, binaries
  only) into a venv, and a runtime stage on the same base (python:3.11-slim unless
  PYTHON_IMAGE names another) that copies that venv and nothing else (no compilers, no pip),
  runs as a numeric non-root user, writes no byte code at run time, and has
  `deployunits-operator` as ENTRYPOINT with `--standalone` as CMD;
- .dockerignore: the build context holds what the COPY lines name and nothing else (no venv,
  tests, caches); the wheel is built from exactly that context;
- the wheel: its entry points are the two scripts the image and the Deployment run (no other
  command appears there), it holds the package and no tests;
- the dev kit (hack/devcluster: the embedded control plane, `deployunits-devcluster`, what tests
  and benchmarks share) is a distribution of its own: neither the build context, nor the wheel,
  nor the wheel's code names it, and no test or benchmark code ships;
- the wheel's scripts start: the operator answers `--help`; the shim validates its settings
  and refuses an unauthenticated listener on a non-loopback address.
"""

import configparser
import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = {
    "deployunits-operator": "deployunits.handlers.main:main",
    "deployunits-shim": "deployunits.api.main:main",
}


def instructions(dockerfile: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", dockerfile)
    found = []
    for line in joined.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, rest = stripped.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def stages(dockerfile: str) -> dict[str, list[tuple[str, str]]]:
    """Stage name → its instructions (ARGs before the first FROM under "")."""
    result: dict[str, list[tuple[str, str]]] = {"": []}
    current = ""
    for keyword, rest in instructions(dockerfile):
        if keyword == "FROM":
            current = rest.split(" AS ")[-1].strip() if " AS " in rest else rest
            result[current] = [(keyword, rest)]
        else:
            result[current].append((keyword, rest))
    return result


def arguments(stage: list[tuple[str, str]], keyword: str) -> list[str]:
    return [rest for found, rest in stage if found == keyword]


@pytest.fixture(scope="module")
def dockerfile() -> dict[str, list[tuple[str, str]]]:
    return stages((REPO / "Dockerfile").read_text())


def _pattern(line: str) -> re.Pattern[str]:
    """A .dockerignore pattern as a regex over context-relative paths."""
    text = line.rstrip("/")
    regex = ""
    index = 0
    while index < len(text):
        if text.startswith("**/", index):
            regex += "(?:.*/)?"
            index += 3
        elif text[index] == "*":
            regex += "[^/]*"
            index += 1
        elif text[index] == "?":
            regex += "[^/]"
            index += 1
        else:
            regex += re.escape(text[index])
            index += 1
    # A pattern that names a folder takes everything under it.
    return re.compile(f"^{regex}(?:/.*)?$")


def in_context(path: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Whether .dockerignore lets the path into the build context (the last match wins)."""
    included = True
    for include, pattern in rules:
        if pattern.match(path):
            included = include
    return included


@pytest.fixture(scope="module")
def ignore_rules() -> list[tuple[bool, re.Pattern[str]]]:
    rules = []
    for line in (REPO / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            include = line.startswith("!")
            rules.append((include, _pattern(line.removeprefix("!"))))
    return rules


@pytest.fixture(scope="module")
def context(
    tmp_path_factory: pytest.TempPathFactory, ignore_rules: list[tuple[bool, re.Pattern[str]]]
) -> Path:
    """A copy of the build context Docker would send, per .dockerignore."""
    target = tmp_path_factory.mktemp("context")
    tracked = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    for name in tracked:
        source = REPO / name
        if source.is_file() and in_context(name, ignore_rules):
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


@pytest.fixture(scope="module")
def wheel(context: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel the builder stage makes, built from the build context alone."""
    out = tmp_path_factory.mktemp("wheel")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), "."],
        cwd=context,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    [built] = out.glob("deployunits-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel installed alone into a folder (its dependencies come from this venv)."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "-t", str(target), str(wheel)],
        check=True,
        timeout=300,
    )
    return target


def deployment_containers() -> list[dict[str, Any]]:
    document = yaml.safe_load((REPO / "manifests" / "deployment.yaml").read_text())
    containers: list[dict[str, Any]] = document["spec"]["template"]["spec"]["containers"]
    return containers


class TestDockerfile:
    """Multi-stage, slim, non-root, read-only friendly."""

    def test_builder_installs_wheels_and_runtime_copies_only_the_venv(
        self, dockerfile: dict[str, list[tuple[str, str]]]
    ) -> None:
        assert set(dockerfile) == {"", "builder", "runtime"}
        # One base for both stages by default (the venv points at its interpreter); `make image`
        # passes its Debian-made base as PYTHON_IMAGE and the same plus binutils as BUILDER_IMAGE.
        assert "PYTHON_IMAGE=python:3.11-slim" in arguments(dockerfile[""], "ARG")
        assert "BUILDER_IMAGE=${PYTHON_IMAGE}" in arguments(dockerfile[""], "ARG")
        assert arguments(dockerfile["builder"], "FROM") == ["${BUILDER_IMAGE} AS builder"]
        assert arguments(dockerfile["runtime"], "FROM") == ["${PYTHON_IMAGE} AS runtime"]
        builder = " ".join(arguments(dockerfile["builder"], "RUN"))
        assert "pip wheel --no-deps" in builder
        assert "--no-index" in builder and "--only-binary=:all:" in builder
        assert arguments(dockerfile["runtime"], "COPY") == [
            "--from=builder /opt/deployunits /opt/deployunits"
        ]

    def test_runtime_has_no_compilers_or_package_installs(
        self, dockerfile: dict[str, list[tuple[str, str]]]
    ) -> None:
        runtime = " ".join(arguments(dockerfile["runtime"], "RUN"))
        for word in ("apt-get", "apk ", "gcc", "build-essential", "make ", "pip"):
            assert word not in runtime, word
        # The copied venv leaves its pip behind.
        assert "pip uninstall --yes pip" in " ".join(arguments(dockerfile["builder"], "RUN"))

    def test_runs_as_a_numeric_non_root_user(
        self, dockerfile: dict[str, list[tuple[str, str]]]
    ) -> None:
        [user] = arguments(dockerfile["runtime"], "USER")
        uid, gid = user.split(":")
        assert uid.isdigit() and gid.isdigit() and int(uid) != 0
        # The user also exists in /etc/passwd, for libraries that look the name up.
        assert f":x:{uid}:{gid}:" in " ".join(arguments(dockerfile["runtime"], "RUN"))

    def test_writes_no_byte_code_at_run_time(
        self, dockerfile: dict[str, list[tuple[str, str]]]
    ) -> None:
        env = " ".join(arguments(dockerfile["runtime"], "ENV"))
        assert "PYTHONDONTWRITEBYTECODE=1" in env
        assert "PYTHONUNBUFFERED=1" in env
        assert "--compile" in " ".join(arguments(dockerfile["builder"], "RUN"))

    def test_operator_is_the_default_command(
        self, dockerfile: dict[str, list[tuple[str, str]]]
    ) -> None:
        [entrypoint] = arguments(dockerfile["runtime"], "ENTRYPOINT")
        [command] = arguments(dockerfile["runtime"], "CMD")
        assert json.loads(entrypoint) == ["deployunits-operator"]
        assert json.loads(command) == ["--standalone"]


class TestBuildContext:
    """.dockerignore sends what the build needs and nothing else."""

    def test_context_holds_the_copied_sources_only(
        self, context: Path, dockerfile: dict[str, list[tuple[str, str]]]
    ) -> None:
        copied: set[str] = set()
        for rest in arguments(dockerfile["builder"], "COPY"):
            *sources, _ = rest.split()
            copied.update(sources)
        assert copied == {"pyproject.toml", "README.md", "operator"}
        top = {p.name for p in context.iterdir()}
        assert top == copied
        assert (context / "operator" / "deployunits" / "handlers" / "main.py").is_file()
        assert not list(context.rglob("__pycache__"))
        assert not list(context.rglob("*.egg-info"))

    def test_context_leaves_out_the_rest_of_the_repository(
        self, ignore_rules: list[tuple[bool, re.Pattern[str]]]
    ) -> None:
        for path in (
            ".venv/bin/python",
            ".git/config",
            "tests/conftest.py",
            "bench/run.py",
            "manifests/deployment.yaml",
            "operator/deployunits/__pycache__/x.pyc",
            ".dev/kubeconfig",
        ):
            assert not in_context(path, ignore_rules), path
        assert in_context("operator/deployunits/settings.py", ignore_rules)

    def test_context_leaves_out_the_dev_kit(self, context: Path) -> None:
        # The repository holds it (hack/devcluster), the build context does not.
        assert (REPO / "hack" / "devcluster" / "devcluster" / "plane.py").is_file()
        assert not (context / "hack").exists()
        assert not [p for p in context.rglob("*") if "devcluster" in p.name]


class TestWheel:
    """The wheel carries both processes' console scripts and the package."""

    def test_entry_points_are_the_two_processes(self, wheel: Path) -> None:
        with zipfile.ZipFile(wheel) as archive:
            [name] = [n for n in archive.namelist() if n.endswith(".dist-info/entry_points.txt")]
            parser = configparser.ConfigParser()
            parser.read_string(archive.read(name).decode())
        scripts = dict(parser["console_scripts"])
        assert SCRIPTS.items() <= scripts.items()

    def test_image_and_deployment_run_only_these_scripts(
        self, dockerfile: dict[str, list[tuple[str, str]]]
    ) -> None:
        [entrypoint] = arguments(dockerfile["runtime"], "ENTRYPOINT")
        default = json.loads(entrypoint)
        commands = {}
        for item in deployment_containers():
            commands[item["name"]] = item.get("command", default)[0]
        assert commands == {"operator": "deployunits-operator", "shim": "deployunits-shim"}
        assert set(commands.values()) == set(SCRIPTS)

    def test_wheel_holds_the_package_and_no_tests(self, wheel: Path) -> None:
        with zipfile.ZipFile(wheel) as archive:
            names = archive.namelist()
        assert "deployunits/py.typed" in names
        assert "deployunits/handlers/main.py" in names
        assert "deployunits/api/main.py" in names
        assert not [n for n in names if n.startswith(("tests/", "bench/", "manifests/"))]

    def test_wheel_carries_no_dev_kit_and_no_test_code(self, wheel: Path) -> None:
        with zipfile.ZipFile(wheel) as archive:
            names = archive.namelist()
            [entry_points] = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
            parser = configparser.ConfigParser()
            parser.read_string(archive.read(entry_points).decode())
            sources = {n: archive.read(n).decode() for n in names if n.endswith(".py")}
        assert dict(parser["console_scripts"]) == SCRIPTS
        packages = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
        assert packages == {"deployunits"}
        assert not [n for n in names if "devcluster" in n or "/tests/" in n or "conftest" in n]
        # Nothing in the package reaches for the dev kit, test code or test tools.
        reaching = re.compile(r"^\s*(?:from|import) (?:devcluster|tests|bench|pytest)\b", re.M)
        assert not [name for name, text in sources.items() if reaching.search(text)]


class TestScriptsStart:
    """The wheel's own scripts run (the package imports from the wheel, not the checkout)."""

    def _run(
        self, installed: Path, *command: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(installed / "bin" / command[0]), *command[1:]],
            env={"PYTHONPATH": str(installed), "PATH": "/usr/bin:/bin", **(env or {})},
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )

    def test_package_comes_from_the_wheel(self, installed: Path) -> None:
        result = subprocess.run(
            [sys.executable, "-c", "import deployunits; print(deployunits.__file__)"],
            env={"PYTHONPATH": str(installed)},
            capture_output=True,
            text=True,
            check=True,
        )
        assert Path(result.stdout.strip()).is_relative_to(installed)

    def test_installed_wheel_has_no_dev_kit(self, installed: Path) -> None:
        assert sorted(p.name for p in (installed / "bin").iterdir()) == sorted(SCRIPTS)
        assert not (installed / "devcluster").exists()
        assert not (installed / "deployunits" / "devcluster").exists()

    def test_operator_answers_help(self, installed: Path) -> None:
        result = self._run(installed, "deployunits-operator", "--help")
        assert result.returncode == 0, result.stderr
        assert "--standalone" in result.stdout and "--peering" in result.stdout

    def test_shim_starts_and_validates_its_settings(self, installed: Path) -> None:
        # Everything imports; then the settings refuse an open unauthenticated listener.
        result = self._run(
            installed,
            "deployunits-shim",
            env={"DEPLOYUNITS_AUTH_MODE": "none", "DEPLOYUNITS_HOST": "0.0.0.0"},
        )
        assert result.returncode == 2, result.stderr
        assert "invalid settings" in result.stderr
