"""Test options shared by every suite: which cluster the integration tests run on."""

import pytest


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
