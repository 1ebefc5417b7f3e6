"""The deployments duplicate filtering compares with: the watch-fed index, ahead by own writes.

Matrix: a deployment written but not yet indexed counts; a later write that is no candidate
(undeployed, a filtered duplicate) hides an indexed one; a deleted unit is forgotten; other
names are untouched; own writes are dropped once the index has certainly caught up; the
history lock is one per (namespace, name, source, tenant).
"""

from datetime import UTC, datetime

import pytest

from deployunits.models.deploymentunit import (
    DeploymentStatus,
    DeploymentUnitSpec,
    DeploymentUnitStatus,
    StoredResource,
)
from deployunits.operations import history as history_module
from deployunits.operations.history import DuplicateHistory, HistoryKey, history_key
from deployunits.reconcile.deploymentunit import PreviousDeployment

AT = datetime(2026, 1, 1, tzinfo=UTC)
SHA = "a" * 64


def context(indexed: dict[HistoryKey, list[PreviousDeployment]]) -> DuplicateHistory:
    """The history as the unit passes share it, over this watch-fed index."""
    ctx = DuplicateHistory()
    ctx.bind(indexed)
    return ctx


def spec(deployment_id: str, name: str = "invoice") -> DeploymentUnitSpec:
    return DeploymentUnitSpec.model_validate(
        {
            "deploymentId": deployment_id,
            "name": name,
            "enableDuplicateFiltering": True,
            "resources": {"snapshots": [{"name": "a.bpmn", "sha256": SHA}]},
        }
    )


def status(state: DeploymentStatus, duplicate_of: str | None = None) -> DeploymentUnitStatus:
    return DeploymentUnitStatus(
        status=state,
        deployment_time=AT,
        duplicate_of=duplicate_of,
        resources=[StoredResource(id="r1", name="a.bpmn", sha256=SHA, size=1)],
    )


def ids(ctx: DuplicateHistory, key: HistoryKey) -> list[str]:
    return sorted(d.deployment_id for d in ctx.history(key))


def test_a_written_deployment_counts_before_the_index_has_it() -> None:
    ctx = context({})
    key = history_key("ns", spec("d1"))
    ctx.wrote_status("ns", spec("d1"), status(DeploymentStatus.DEPLOYED))
    assert ids(ctx, key) == ["d1"]
    assert ctx.history(key)[0].resources == {"a.bpmn": SHA}
    assert ids(ctx, history_key("ns", spec("d9", name="other"))) == []


def test_a_later_write_that_is_no_candidate_hides_the_indexed_one() -> None:
    key = history_key("ns", spec("d1"))
    ctx = context({key: [PreviousDeployment("d1", AT, {"a.bpmn": SHA})]})
    assert ids(ctx, key) == ["d1"]
    ctx.wrote_status("ns", spec("d2"), status(DeploymentStatus.DEPLOYED, duplicate_of="d1"))
    ctx.wrote_status("ns", spec("d1"), status(DeploymentStatus.UNDEPLOYED))
    assert ids(ctx, key) == []


def test_a_deleted_unit_is_forgotten() -> None:
    ctx = context({})
    key = history_key("ns", spec("d1"))
    ctx.wrote_status("ns", spec("d1"), status(DeploymentStatus.DEPLOYED))
    ctx.forget_status("ns", spec("d1"))
    assert ids(ctx, key) == []


def test_one_history_lock_per_name_source_and_tenant() -> None:
    ctx = context({})
    first = ctx.history_lock(history_key("ns", spec("d1")))
    assert ctx.history_lock(history_key("ns", spec("d2"))) is first
    assert ctx.history_lock(history_key("ns", spec("d3", name="other"))) is not first


def test_own_writes_are_dropped_once_the_index_has_certainly_caught_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(history_module.time, "monotonic", lambda: clock[0])
    ctx = context({})
    key = history_key("ns", spec("d1"))
    ctx.wrote_status("ns", spec("d1"), status(DeploymentStatus.DEPLOYED))
    clock[0] += 200
    ctx.wrote_status("ns", spec("d2"), status(DeploymentStatus.DEPLOYED))
    # Written again later: d1 is as fresh as its last write, not its first.
    clock[0] += 50
    ctx.wrote_status("ns", spec("d1"), status(DeploymentStatus.DEPLOYED))
    clock[0] += 300
    ctx.wrote_status("ns", spec("d3"), status(DeploymentStatus.DEPLOYED))
    assert ids(ctx, key) == ["d1", "d3"]
