"""A schemathesis stateful run against both dialects of a running shim, over real HTTP.

The state machine comes from the shim's OpenAPI links (a created or redeployed deployment's id
feeds get, resources, redeploy and delete; a jBPM job's id feeds the calls on that deployment),
so generated sequences reach real deployments. Checks: no 5xx, and every answer conforms to the
documented status codes, media types and response schemas.
"""

import json
import re
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devcluster.processes import OperatorProcess, ShimProcess
from tests.drills.figures import Figures
from tests.support.cluster import Cluster

DRILL = "hostile-input"
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
    ]
)
#: Seconds of stateful testing per dialect.
BUDGET = 75


@pytest.fixture(scope="module")
def space(cluster: Cluster) -> Iterator[str]:
    with cluster.scratch_namespace("hst") as name:
        yield name


@pytest.fixture(scope="module")
def shim(
    cluster: Cluster,
    operator: OperatorProcess,
    space: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ShimProcess]:
    # Generated jBPM deploys name artifacts nobody published: their jobs fail, which is fine.
    with ShimProcess(
        cluster.kubeconfig,
        tmp_path_factory.mktemp("shim") / "log",
        namespace=space,
        env={"DEPLOYUNITS_MAVEN_REPOSITORY": "http://127.0.0.1:9/maven2"},
    ).serving() as process:
        yield process


def pinned(schema: dict[str, Any], namespace: str) -> dict[str, Any]:
    """The document with the `engine` path parameter limited to the served namespace."""
    for path in schema["paths"].values():
        for operation in path.values():
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "path" and parameter.get("name") == "engine":
                    parameter["schema"] = {"type": "string", "enum": [namespace]}
    return schema


@pytest.mark.timeout(400)
@pytest.mark.parametrize(
    ("dialect", "paths"),
    [("camunda", "^/engine-rest"), ("jbpm", "^/business-central/rest")],
)
def test_stateful_run_finds_no_server_error_or_nonconforming_answer(
    dialect: str,
    paths: str,
    shim: ShimProcess,
    space: str,
    tmp_path: Path,
    figures: Figures,
) -> None:
    with urllib.request.urlopen(f"{shim.url}/openapi.json", timeout=30) as response:
        schema = json.load(response)
    links = sum(
        len(answer.get("links", {}))
        for item in schema["paths"].values()
        for operation in item.values()
        for answer in operation.get("responses", {}).values()
    )
    assert links > 0, "the OpenAPI document has no links to build a state machine from"
    document = tmp_path / "openapi.json"
    document.write_text(json.dumps(pinned(schema, space)))
    command = [
        str(Path(sys.executable).parent / "schemathesis"),
        "run",
        str(document),
        "--url",
        shim.url,
        "--include-path-regex",
        paths,
        "--phases",
        "stateful",
        "--checks",
        CHECKS,
        "--seed",
        "20261123",
        "--request-timeout",
        "60",
        "--workers",
        "1",
        "--max-time",
        str(BUDGET),
        "--no-color",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=360, check=False)
    output = result.stdout + result.stderr
    print(output[-3000:])
    scenarios = re.search(r"Scenarios:\s+(\d+)", output)
    steps = re.search(r"API Links:\s+(\d+) covered", output)
    figures.record(DRILL, f"stateful {dialect}: scenarios", int(scenarios[1]) if scenarios else 0)
    figures.record(DRILL, f"stateful {dialect}: links covered", int(steps[1]) if steps else 0)
    generated = re.search(r"(\d+) generated", output)
    figures.record(DRILL, f"stateful {dialect}: requests", int(generated[1]) if generated else 0)
    assert result.returncode == 0, f"{output[-12000:]}\nshim log:\n{shim.tail(40)}"
    assert scenarios is not None and int(scenarios[1]) > 0, output[-4000:]
