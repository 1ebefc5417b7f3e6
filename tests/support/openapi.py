"""schemathesis runs against a running shim's own OpenAPI document, for tests and drills."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

from devcluster.processes import ShimProcess

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
#: A shim's settings for generated calls: jBPM deploys name artifacts nobody published, so the
#: repository is one nobody serves (their jobs fail, which is fine).
UNSERVED_REPOSITORY = {"DEPLOYUNITS_MAVEN_REPOSITORY": "http://127.0.0.1:9/maven2"}
#: Generated examples per operation in a bounded run.
MAX_EXAMPLES = 20


def document(shim: ShimProcess) -> dict[str, Any]:
    """The shim's /openapi.json."""
    with urllib.request.urlopen(f"{shim.url}/openapi.json", timeout=30) as response:
        schema: dict[str, Any] = json.load(response)
    return schema


def pinned(schema: dict[str, Any], namespace: str) -> dict[str, Any]:
    """The document with the `engine` path parameter limited to one namespace.

    Generated named-engine calls then reach real deployments instead of stopping at
    "No process engine available".
    """
    for path in schema["paths"].values():
        for operation in path.values():
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "path" and parameter.get("name") == "engine":
                    parameter["schema"] = {"type": "string", "enum": [namespace]}
    return schema


def schemathesis(
    shim: ShimProcess,
    schema: dict[str, Any],
    workdir: Path,
    *,
    paths: str,
    phases: str,
    checks: str,
    seed: str,
    max_time: int,
    max_examples: int | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """`schemathesis run` of the document's operations under `paths` against the shim."""
    saved = workdir / "openapi.json"
    saved.write_text(json.dumps(schema))
    command = [
        str(SCHEMATHESIS),
        "run",
        str(saved),
        "--url",
        shim.url,
        "--include-path-regex",
        paths,
        "--phases",
        phases,
        "--checks",
        checks,
        "--seed",
        seed,
        "--request-timeout",
        "60",
        # One worker: hypothesis' lambda descriptions are not thread-safe on CPython 3.11.
        "--workers",
        "1",
        "--max-time",
        str(max_time),
        "--no-color",
    ]
    if max_examples is not None:
        command += ["--max-examples", str(max_examples)]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)


def bounded_run(
    shim: ShimProcess, schema: dict[str, Any], workdir: Path, *, paths: str, seed: str
) -> subprocess.CompletedProcess[str]:
    """Every operation under `paths` with bounded generated examples (valid and invalid:
    examples, coverage and fuzzing phases), checked for server errors only."""
    return schemathesis(
        shim,
        schema,
        workdir,
        paths=paths,
        phases="examples,coverage,fuzzing",
        checks="not_a_server_error",
        seed=seed,
        max_time=90,
        max_examples=MAX_EXAMPLES,
    )
