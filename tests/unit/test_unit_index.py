"""The operator's one kopf index of units: every part keyed as its lookups expect.

Matrix: a deployed unit with a definition and a ConfigMap source lands in each part; an
unfinished job counts as pending; a part reads like its own index (get, iteration, length) and
misses are misses, not another part's keys.
"""

import asyncio
from typing import Any

from deployunits.handlers.deploymentunit import IndexPart, unit_index
from deployunits.reconcile.deploymentunit import PreviousDeployment


def indexed(spec: dict[str, Any], status: dict[str, Any], generation: int = 1) -> dict[Any, Any]:
    return asyncio.run(
        unit_index(  # type: ignore[arg-type]
            namespace="ns",
            name="invoice",
            meta={"generation": generation},
            spec=spec,
            status=status,
        )
    )


SPEC = {
    "deploymentId": "d1",
    "name": "invoice",
    "tenantId": "t1",
    "resources": {"configMaps": [{"name": "src"}]},
}
DEPLOYED = {
    "observedGeneration": 1,
    "status": "DEPLOYED",
    "deploymentTime": "2026-01-01T00:00:00Z",
    "resources": [{"name": "a.bpmn", "sha256": "a" * 64}],
    "definitions": [{"kind": "process", "key": "invoice", "version": 3}],
}


def test_a_deployed_unit_lands_in_every_part() -> None:
    keys = indexed(SPEC, DEPLOYED)
    assert keys[("versions", "ns", "t1", "process", "invoice")] == 3
    history = keys[("history", "ns", "invoice", "process application", "t1")]
    assert isinstance(history, PreviousDeployment)
    assert (history.deployment_id, history.resources) == ("d1", {"a.bpmn": "a" * 64})
    assert keys[("states", "status", "DEPLOYED")] == ("ns", "invoice")
    assert ("states", "pending") not in keys
    assert keys[("deployment-ids", "ns", "d1")] == "invoice"
    assert keys[("config-maps", "ns", "src")] == "invoice"


def test_an_unobserved_generation_is_a_pending_job() -> None:
    keys = indexed(SPEC, DEPLOYED, generation=2)
    assert keys[("states", "pending")] == ("ns", "invoice")


def test_a_part_reads_like_an_index_of_its_own() -> None:
    # kopf's index maps each key to the values of every object that has it.
    index = {
        ("versions", "ns", "", "process", "a"): [1, 2],
        ("versions", "ns", "", "process", "b"): [1],
        ("deployment-ids", "ns", "d1"): ["one"],
    }
    versions: IndexPart[tuple[str, str, str, str], int] = IndexPart(index, "versions")
    assert list(versions.get(("ns", "", "process", "a")) or ()) == [1, 2]
    assert versions.get(("ns", "d1")) is None
    assert sorted(versions) == [("ns", "", "process", "a"), ("ns", "", "process", "b")]
    assert len(versions) == 2
