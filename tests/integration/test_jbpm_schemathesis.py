"""A schemathesis run against the jBPM dialect of a running shim: its OpenAPI, no server errors.

Every /business-central/rest operation of /openapi.json with bounded generated examples (ids
drawn from the route's pattern, random query parameters and bodies); the shim never answers
5xx, whatever the parameters, descriptors or ids.
"""

import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from devcluster.processes import OperatorProcess, ShimProcess
from tests.support.cluster import Cluster

MAX_EXAMPLES = 20


@pytest.fixture(scope="module")
def space(cluster: Cluster) -> Iterator[str]:
    with cluster.scratch_namespace("jst") as name:
        yield name


@pytest.fixture(scope="module")
def shim(
    cluster: Cluster,
    operator: OperatorProcess,
    space: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ShimProcess]:
    # Generated deploys create units of artifacts nobody published: they fail, which is fine.
    with ShimProcess(
        cluster.kubeconfig,
        tmp_path_factory.mktemp("shim") / "log",
        namespace=space,
        env={"DEPLOYUNITS_MAVEN_REPOSITORY": "http://127.0.0.1:9/maven2"},
    ).serving() as process:
        yield process


@pytest.mark.timeout(420)
def test_schemathesis_finds_no_server_error(shim: ShimProcess, tmp_path: Path) -> None:
    with urllib.request.urlopen(f"{shim.url}/openapi.json", timeout=30) as response:
        schema = json.load(response)
    document = tmp_path / "openapi.json"
    document.write_text(json.dumps(schema))
    command = [
        str(Path(sys.executable).parent / "schemathesis"),
        "run",
        str(document),
        "--url",
        shim.url,
        "--include-path-regex",
        "^/business-central/rest",
        "--checks",
        "not_a_server_error",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        "20261123",
        "--phases",
        "examples,coverage,fuzzing",
        "--request-timeout",
        "60",
        "--workers",
        "1",
        "--max-time",
        "90",
        "--no-color",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{output[-12000:]}\nshim log:\n{shim.tail(40)}"
    assert " passed" in output and "failures" not in output, output[-4000:]
