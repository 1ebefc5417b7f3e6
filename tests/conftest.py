"""Options of every suite, and the session fixtures of the suites that run against a cluster.

The integration tests, the drills and the GitOps tests share them: the cluster (and which one it
is), the operator, the Camunda 7 engine, shims, and namespaces.
"""

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from devcluster.processes import OperatorProcess, ShimProcess
from tests.support.cluster import Cluster, embedded_cluster, unique_name
from tests.support.engine import RunningEngine, camunda7_engine


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("deployunits")
    group.addoption(
        "--cluster",
        choices=["embedded", "kind"],
        default="embedded",
        help="embedded: local kube-apiserver and etcd processes (default); kind: pytest-kind "
        "(needs Docker)",
    )
    # --kubeconfig PATH (an existing cluster) is pytest-kind's option; the fixtures honour it.


@pytest.fixture(scope="session")
def cluster(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    """The cluster of the run, with the CRDs installed."""
    kubeconfig = request.config.getoption("--kubeconfig")
    backend = request.config.getoption("--cluster")
    if kubeconfig:
        found = Cluster(Path(kubeconfig).resolve(), None)
    elif backend == "kind":
        kind = request.getfixturevalue("kind_cluster")
        found = Cluster(Path(kind.kubeconfig_path), None)
    else:
        found = embedded_cluster()
    try:
        found.install_crds()
        yield found
    finally:
        if found.plane is not None:
            found.plane.stop()


@pytest.fixture(scope="session")
def operator(
    cluster: Cluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    """One operator subprocess for the session, watching every namespace."""
    process = OperatorProcess(cluster.kubeconfig, tmp_path_factory.mktemp("operator") / "log")
    process.start()
    yield process
    process.stop()


@pytest.fixture(scope="session")
def camunda7(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEngine]:
    """A real Camunda 7 engine (basic auth on) for the session, started on first use."""
    with camunda7_engine(tmp_path_factory.mktemp("camunda7")) as engine:
        yield engine


@pytest.fixture(scope="module")
def start_shim(
    cluster: Cluster, operator: OperatorProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., ShimProcess]]:
    """Starts shims (with ShimProcess's options) while the operator runs; stops them after the
    module. Each logs to a file of its own."""
    started: list[ShimProcess] = []

    def start(**options: Any) -> ShimProcess:
        process = ShimProcess(
            cluster.kubeconfig, tmp_path_factory.mktemp("shim") / "log", **options
        )
        started.append(process)
        process.start()
        return process

    yield start
    for process in started:
        process.stop()


@pytest.fixture(scope="module")
def space(cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A namespace for the module, named after it: where a module's shim serves its own
    namespace (the jBPM dialect and the default engine address it)."""
    module = request.module.__name__.rsplit(".", 1)[-1]
    with cluster.scratch_namespace(module.removeprefix("test_").replace("_", "-")) as name:
        yield name


@pytest.fixture
def namespace(cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace for one test, deleted afterwards (without waiting)."""
    name = unique_name("t")
    cluster.kubectl("create", "namespace", name)
    yield name
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        print(cluster.kubectl("get", "events", "-n", name, check=False).stdout)
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
