"""A schemathesis run against the running shim over real HTTP: its OpenAPI, no server errors.

Every operation of /openapi.json, default and named engine, with bounded generated examples
(valid and invalid, examples + coverage + fuzzing phases); the check is the issue's: the shim
never answers 5xx. Named-engine paths are pinned to the served namespace so generated calls
reach real deployments instead of stopping at "No process engine available".
"""

import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devcluster.processes import OperatorProcess, ShimProcess
from tests.support.cluster import Cluster

MAX_EXAMPLES = 20


@pytest.fixture(scope="module")
def engine_namespace(cluster: Cluster) -> Iterator[str]:
    with cluster.scratch_namespace("st") as name:
        yield name


@pytest.fixture(scope="module")
def shim(
    cluster: Cluster,
    operator: OperatorProcess,
    engine_namespace: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ShimProcess]:
    with ShimProcess(
        cluster.kubeconfig, tmp_path_factory.mktemp("shim") / "log", namespace=engine_namespace
    ).serving() as process:
        yield process


def pinned(schema: dict[str, Any], namespace: str) -> dict[str, Any]:
    """The shim's document with the `engine` path parameter limited to one namespace."""
    for path in schema["paths"].values():
        for operation in path.values():
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "path" and parameter.get("name") == "engine":
                    parameter["schema"] = {"type": "string", "enum": [namespace]}
    return schema


@pytest.mark.timeout(420)
def test_schemathesis_finds_no_server_error(
    shim: ShimProcess, engine_namespace: str, tmp_path: Path
) -> None:
    with urllib.request.urlopen(f"{shim.url}/openapi.json", timeout=30) as response:
        schema = json.load(response)
    assert schema["openapi"].startswith("3.")
    document = tmp_path / "openapi.json"
    document.write_text(json.dumps(pinned(schema, engine_namespace)))
    command = [
        str(Path(sys.executable).parent / "schemathesis"),
        "run",
        str(document),
        "--url",
        shim.url,
        "--include-path-regex",
        "^/engine-rest",
        "--checks",
        "not_a_server_error",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        "20261122",
        "--phases",
        "examples,coverage,fuzzing",
        "--request-timeout",
        "60",
        # One worker: hypothesis' lambda descriptions are not thread-safe on CPython 3.11.
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
