"""Fixtures of the integration tests alone: own control planes, the KIE Server, the shim.

The session's cluster, operator, engine and namespaces are in tests/conftest.py, shared with the
drills and the GitOps tests.
"""

from collections.abc import Callable, Iterator

import pytest

from devcluster.processes import ShimProcess
from tests.support.cluster import Cluster, embedded_cluster
from tests.support.kie import RunningKieServer
from tests.support.kie import kie_server as start_kie_server


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="module")
def own_plane() -> Iterator[Cluster]:
    """A control plane of the module's own, empty: for modules that install the project
    (cluster-wide names) or run an operator of their own, apart from the session's."""
    found = embedded_cluster()
    try:
        yield found
    finally:
        assert found.plane is not None
        found.plane.stop()


@pytest.fixture(scope="module")
def own_cluster(own_plane: Cluster) -> Cluster:
    """The module's own control plane with the CRDs."""
    own_plane.install_crds()
    return own_plane


@pytest.fixture(scope="session")
def kie_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningKieServer]:
    """A real KIE Server (basic auth on) for the session, started on first use, with the Maven
    repository it resolves kjars from (give the same to the shim and the units)."""
    with start_kie_server(tmp_path_factory.mktemp("kie")) as server:
        yield server


@pytest.fixture(scope="module")
def shim(start_shim: Callable[..., ShimProcess]) -> ShimProcess:
    """A shim with the default settings (no auth; the default engine is namespace `default`).
    Modules that need other settings define a `shim` of their own."""
    return start_shim()
