"""A schemathesis stateful run against both dialects of a running shim, over real HTTP.

The state machine comes from the shim's OpenAPI links (a created or redeployed deployment's id
feeds get, resources, redeploy and delete; a jBPM job's id feeds the calls on that deployment),
so generated sequences reach real deployments. Checks: no 5xx, and every answer conforms to the
documented status codes, media types and response schemas.
"""

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from devcluster.processes import ShimProcess
from tests.drills.figures import Figures
from tests.support import openapi

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
def shim(space: str, start_shim: Callable[..., ShimProcess]) -> ShimProcess:
    return start_shim(namespace=space, env=openapi.UNSERVED_REPOSITORY)


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
    schema = openapi.document(shim)
    links = sum(
        len(answer.get("links", {}))
        for item in schema["paths"].values()
        for operation in item.values()
        for answer in operation.get("responses", {}).values()
    )
    assert links > 0, "the OpenAPI document has no links to build a state machine from"
    result = openapi.schemathesis(
        shim,
        openapi.pinned(schema, space),
        tmp_path,
        paths=paths,
        phases="stateful",
        checks=CHECKS,
        seed="20261123",
        max_time=BUDGET,
        timeout=360,
    )
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
