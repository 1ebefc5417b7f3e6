"""A schemathesis run against the jBPM dialect of a running shim: its OpenAPI, no server errors.

Every /business-central/rest operation of /openapi.json with bounded generated examples (ids
drawn from the route's pattern, random query parameters and bodies); the shim never answers
5xx, whatever the parameters, descriptors or ids.
"""

from collections.abc import Callable
from pathlib import Path

import pytest

from devcluster.processes import ShimProcess
from tests.support import openapi

PATHS = "^/business-central/rest"


@pytest.fixture(scope="module")
def shim(space: str, start_shim: Callable[..., ShimProcess]) -> ShimProcess:
    return start_shim(namespace=space, env=openapi.UNSERVED_REPOSITORY)


@pytest.mark.timeout(420)
def test_schemathesis_finds_no_server_error(shim: ShimProcess, tmp_path: Path) -> None:
    schema = openapi.document(shim)
    result = openapi.bounded_run(shim, schema, tmp_path, paths=PATHS, seed="20261123")
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{output[-12000:]}\nshim log:\n{shim.tail(40)}"
    assert " passed" in output and "failures" not in output, output[-4000:]
