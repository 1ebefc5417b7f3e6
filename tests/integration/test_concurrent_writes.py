"""Writes that race: what the concurrency drill found, kept as regressions of a normal run.

Matrix: identical uploads with duplicate filtering sent at once give one deployment (each
decided on an index that had not seen the others yet and deployed too); a unit deleted right
after it was deployed loses its finalizer without a conflict first.
"""

import concurrent.futures
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.cluster import Cluster, OperatorProcess
from tests.support.shim import ShimProcess

UPLOADS = 8
MAPS = (
    "deployedProcessDefinitions",
    "deployedCaseDefinitions",
    "deployedDecisionDefinitions",
    "deployedDecisionRequirementsDefinitions",
)
BPMN = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" id="defs" '
    b'targetNamespace="http://example.org/race">\n'
    b'  <process id="race" isExecutable="true"><startEvent id="s"/></process>\n'
    b"</definitions>\n"
)


@pytest.fixture
def shim(
    cluster: Cluster, operator: OperatorProcess, namespace: str, tmp_path: Path
) -> Iterator[ShimProcess]:
    process = ShimProcess(cluster.kubeconfig, tmp_path / "shim.log", namespace=namespace)
    process.start()
    yield process
    process.stop()


@pytest.mark.timeout(300)
@pytest.mark.parametrize("mode", ["enable-duplicate-filtering", "deploy-changed-only"])
def test_identical_uploads_at_once_deploy_once(shim: ShimProcess, mode: str) -> None:
    barrier = threading.Barrier(UPLOADS)

    def upload(_: int) -> dict[str, Any]:
        with httpx.Client(base_url=shim.engine(), timeout=120) as http:
            barrier.wait()
            response = http.post(
                "/deployment/create",
                data={"deployment-name": "race", mode: "true"},
                files={"data": ("race.bpmn", BPMN)},
            )
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer

    with concurrent.futures.ThreadPoolExecutor(UPLOADS) as pool:
        answers = list(pool.map(upload, range(UPLOADS)))

    assert len({a["id"] for a in answers}) == 1, [a["id"] for a in answers]
    assert sum(1 for a in answers if any(a[m] for m in MAPS)) == 1
    listed = httpx.get(f"{shim.engine()}/deployment", params={"name": "race"}, timeout=30).json()
    assert [d["id"] for d in listed] == [answers[0]["id"]]
    definitions = httpx.get(f"{shim.engine()}/deployment/{answers[0]['id']}", timeout=30)
    assert definitions.status_code == 200
