"""The image runs: its operator and its shim as two containers against a real control plane.

The image is the one `make image` builds (hack/image/build.sh, on a base made from Debian's
packages); the fixture builds it (cached layers make a rebuild a matter of seconds) and runs it
as the Deployment does: read-only root file system, user 65532, no capabilities, host network to
reach the loopback control plane, whose kubeconfig is mounted read-only. The module has a control
plane of its own, so that no operator of the session's runs beside the containerised one.

Matrix:
- both containers' probes answer (operator /healthz; shim /healthz and /readyz), and each runs
  as 65532 on a read-only root file system; their idle RSS is printed;
- a unit applied with kubectl becomes Ready (the containerised operator reconciles it);
- a REST create through the containerised shim (auth mode kubernetes, as the Deployment runs
  it) answers 401 without a token and 200 with a deployer's, and its unit becomes Ready;
- the image holds no compiler, no pip, no test code, no dev kit and no control plane.

Skipped with the reason where podman is missing; `make image-test` installs podman and requires
the test (DEPLOYUNITS_IMAGE_TEST=required turns the skip into a failure).
"""

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devcluster import binaries
from tests.support import rbac
from tests.support.cluster import Cluster, unique_name
from tests.support.containers import (
    BUILD,
    IMAGE,
    USER,
    Container,
    flattened_kubeconfig,
    operator_container,
    podman,
    podman_missing,
    shim_container,
)
from tests.support.manifests import SAMPLES

HELLO = (SAMPLES / "inline-unit.yaml").read_text()
DEPLOYER: rbac.Rights = {"deploymentunits": ["get", "list", "create"]}
# The image first: where it cannot be built, skip before any control plane starts.
pytestmark = pytest.mark.usefixtures("image")


@pytest.fixture(scope="module")
def image() -> str:
    """The image, built (or found up to date) by `make image`'s script."""
    missing = podman_missing()
    if missing is not None:
        if os.environ.get("DEPLOYUNITS_IMAGE_TEST") == "required":
            pytest.fail(missing)
        pytest.skip(missing)
    result = subprocess.run(
        [str(BUILD), IMAGE], capture_output=True, text=True, check=False, timeout=1800
    )
    assert result.returncode == 0, result.stderr
    print(result.stdout, end="")
    return IMAGE


@pytest.fixture(scope="module")
def kubeconfig(image: str, own_cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("image") / "kubeconfig"
    return flattened_kubeconfig(binaries.kubectl(), own_cluster.kubeconfig, target)


@pytest.fixture(scope="module")
def space(own_cluster: Cluster) -> Iterator[str]:
    with own_cluster.scratch_namespace("image") as name:
        yield name


@pytest.fixture(scope="module")
def operator(
    image: str, kubeconfig: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Container]:
    container = operator_container(kubeconfig, tmp_path_factory.mktemp("op") / "log", image)
    container.start()
    yield container
    container.stop()


@pytest.fixture(scope="module")
def shim(
    image: str, kubeconfig: Path, space: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Container]:
    log = tmp_path_factory.mktemp("shim") / "log"
    container = shim_container(kubeconfig, log, space, image)
    container.start(probe="/readyz")
    yield container
    container.stop()


class TestContainers:
    """Both processes run from the image as the Deployment runs them."""

    def test_probes_answer(self, operator: Container, shim: Container) -> None:
        probes = [
            f"http://127.0.0.1:{operator.port}/healthz",
            f"http://127.0.0.1:{shim.port}/healthz",
            f"http://127.0.0.1:{shim.port}/readyz",
        ]
        for url in probes:
            assert httpx.get(url, timeout=10).status_code == 200, url
        print(
            f"\nidle RSS: operator {operator.rss_bytes() / 2**20:.0f} MiB, "
            f"shim {shim.rss_bytes() / 2**20:.0f} MiB"
        )

    @pytest.mark.parametrize("which", ["operator", "shim"])
    def test_runs_as_65532_on_a_read_only_root(
        self, which: str, request: pytest.FixtureRequest
    ) -> None:
        container: Container = request.getfixturevalue(which)
        assert container.inspect("{{.HostConfig.ReadonlyRootfs}}") == "true"
        assert container.inspect("{{.Config.User}}") == USER
        assert container.uids() == [65532] * 4


class TestWork:
    """The containerised operator reconciles; the containerised shim serves."""

    def test_kubectl_applied_unit_becomes_ready(
        self, own_cluster: Cluster, operator: Container, space: str
    ) -> None:
        own_cluster.apply(HELLO, space)
        unit = own_cluster.wait_condition("hello-inline", space, "Ready", operator)
        assert unit["status"]["status"] == "DEPLOYED"
        assert [d["key"] for d in unit["status"]["definitions"]] == ["hello"]

    def test_rest_create_answers_200_and_the_unit_becomes_ready(
        self, own_cluster: Cluster, operator: Container, shim: Container, space: str
    ) -> None:
        name = unique_name("invoice")
        bpmn = (SAMPLES / "processes" / "invoice.bpmn").read_bytes()
        # A ServiceAccount allowed to deploy, whose token the shim reviews.
        [token] = rbac.accounts(own_cluster, space, {"deployer": DEPLOYER}).values()
        url = f"http://127.0.0.1:{shim.port}/engine-rest/deployment/create"
        fields = {"deployment-name": name, "deployment-source": "image-test"}
        files = {"data": ("invoice.bpmn", bpmn)}
        refused = httpx.post(url, data=fields, files=files, timeout=60)
        assert refused.status_code == 401, refused.text
        response = httpx.post(url, data=fields, files=files, headers=rbac.bearer(token), timeout=60)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["name"] == name
        listed = json.loads(own_cluster.kubectl("get", "du", "-n", space, "-o", "json").stdout)
        [unit] = [item for item in listed["items"] if item["spec"]["deploymentId"] == body["id"]]
        ready = own_cluster.wait_condition(unit["metadata"]["name"], space, "Ready", operator)
        assert ready["status"]["status"] == "DEPLOYED"


class TestContents:
    """What the image holds, read from its mounted root file system."""

    @pytest.fixture(scope="class")
    def root(self, image: str) -> Iterator[Path]:
        mounted = Path(podman("image", "mount", image).strip())
        try:
            yield mounted
        finally:
            podman("image", "unmount", image, check=False)

    def test_no_compiler_and_no_pip(self, root: Path) -> None:
        found = [
            str(path.relative_to(root))
            for folder in ("usr/bin", "usr/local/bin", "opt/deployunits/bin")
            for path in (root / folder).glob("*")
            if path.name in {"cc", "gcc", "g++", "c++", "clang", "ld", "as", "make"}
            or path.name.startswith(("gcc-", "x86_64-linux-gnu-gcc", "pip"))
        ]
        assert found == []
        site = next((root / "opt/deployunits/lib").glob("python3.*/site-packages"))
        assert not list(site.glob("pip*")), "pip ships in the venv"

    def test_no_test_code_and_no_dev_kit(self, root: Path) -> None:
        site = next((root / "opt/deployunits/lib").glob("python3.*/site-packages"))
        top = {path.name for path in site.iterdir()}
        assert "deployunits" in top
        assert not {"tests", "bench", "devcluster", "hack"} & top
        assert not [name for name in top if "devcluster" in name or name.startswith("pytest")]
        package = site / "deployunits"
        assert not list(package.rglob("test_*.py")) and not list(package.rglob("conftest.py"))
        assert sorted(p.name for p in (root / "opt/deployunits/bin").glob("deployunits-*")) == [
            "deployunits-operator",
            "deployunits-shim",
        ]

    def test_no_control_plane(self, root: Path) -> None:
        names = {"kube-apiserver", "kube-controller-manager", "etcd", "kubectl", "helm"}
        found = [
            str(path.relative_to(root))
            for path in root.rglob("*")
            if path.name in names and not path.is_symlink() and path.is_file()
        ]
        assert found == []
