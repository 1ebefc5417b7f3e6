"""GitOps fixtures: the integration suite's cluster, operator and namespaces, shared as is.

The GitOps tests run the real Flux and Argo CD controllers (`make test-gitops`); they live apart
from `tests/integration` because their one-time builds take longer than the rest of `make test`.
"""

import pytest

from tests.integration.conftest import (  # noqa: F401 - fixtures shared with the GitOps tests
    camunda7,
    cluster,
    namespace,
    operator,
    pytest_runtest_makereport,
    space,
    start_shim,
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(pytest.mark.gitops)
