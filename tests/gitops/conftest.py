"""GitOps tests: marked `gitops`; their cluster, operator and namespaces are tests/conftest.py's.

The GitOps tests run the real Flux and Argo CD controllers (`make test-gitops`); they live apart
from `tests/integration` because their one-time builds take longer than the rest of `make test`.
"""

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(pytest.mark.gitops)
