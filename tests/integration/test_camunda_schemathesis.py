"""A schemathesis run against the running shim over real HTTP: its OpenAPI, no server errors.

Every operation of /openapi.json, default and named engine, with bounded generated examples
(valid and invalid, examples + coverage + fuzzing phases); the check is the issue's: the shim
never answers 5xx. Named-engine paths are pinned to the served namespace so generated calls
reach real deployments instead of stopping at "No process engine available".
"""

from collections.abc import Callable
from pathlib import Path

import pytest

from devcluster.processes import ShimProcess
from tests.support import openapi


@pytest.fixture(scope="module")
def shim(space: str, start_shim: Callable[..., ShimProcess]) -> ShimProcess:
    return start_shim(namespace=space)


@pytest.mark.timeout(420)
def test_schemathesis_finds_no_server_error(shim: ShimProcess, space: str, tmp_path: Path) -> None:
    schema = openapi.document(shim)
    assert schema["openapi"].startswith("3.")
    result = openapi.bounded_run(
        shim, openapi.pinned(schema, space), tmp_path, paths="^/engine-rest", seed="20261122"
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{output[-12000:]}\nshim log:\n{shim.tail(40)}"
    assert " passed" in output and "failures" not in output, output[-4000:]
