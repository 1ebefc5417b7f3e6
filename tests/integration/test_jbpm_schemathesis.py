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

MAX_EXAMPLES = 20


@pytest.fixture(scope="module")
def shim(space: str, start_shim: Callable[..., ShimProcess]) -> ShimProcess:
    # Generated deploys create units of artifacts nobody published: they fail, which is fine.
    return start_shim(
        namespace=space, env={"DEPLOYUNITS_MAVEN_REPOSITORY": "http://127.0.0.1:9/maven2"}
    )


@pytest.mark.timeout(420)
def test_schemathesis_finds_no_server_error(shim: ShimProcess, tmp_path: Path) -> None:
    result = openapi.schemathesis(
        shim,
        openapi.document(shim),
        tmp_path,
        paths="^/business-central/rest",
        phases="examples,coverage,fuzzing",
        checks="not_a_server_error",
        seed="20261123",
        max_time=90,
        max_examples=MAX_EXAMPLES,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{output[-12000:]}\nshim log:\n{shim.tail(40)}"
    assert " passed" in output and "failures" not in output, output[-4000:]
