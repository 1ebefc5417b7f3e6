"""Job semantics of the jBPM dialect: statuses, pending jobs, queue records, and every
admission and refusal with the engine's explanation texts."""

from typing import Any

import pytest

from deployunits.api.cache import CachedUnit, parse_unit
from deployunits.api.jbpm import ids, jobs
from deployunits.api.jbpm.index import JbpmIndex
from deployunits.api.jbpm.jobs import Admit, Record, Refuse, Request
from deployunits.api.jbpm.wire import JaxbDeploymentStatus
from deployunits.models.deploymentunit import JobOperation, MergeMode, RuntimeStrategy
from tests.support.jbpm import cached_unit as unit

ID = "org.acme:invoice:1.0"
DEPLOY = JobOperation.DEPLOY
UNDEPLOY = JobOperation.UNDEPLOY


def decide(
    operation: JobOperation,
    found: CachedUnit | None,
    *,
    record: Record | None = None,
    pending: int = 0,
    limit: int = 100,
    strategy: RuntimeStrategy | None = None,
) -> Admit | Refuse:
    state = jobs.state_of(ID, found, record)
    request = Request(operation, ID, strategy)
    return jobs.decide(request, state, pending, limit, seq=7, now=1.0, replica="r")


def refusal(decision: Admit | Refuse) -> str:
    assert isinstance(decision, Refuse), decision
    assert decision.result.success is False
    assert decision.result.identifier is None
    assert decision.result.explanation is not None
    return decision.result.explanation


@pytest.mark.parametrize(
    ("kwargs", "pending", "status"),
    [
        ({}, None, JaxbDeploymentStatus.DEPLOYED),
        ({"generation": 2}, DEPLOY, JaxbDeploymentStatus.ACCEPTED),
        ({"status": None, "observed": None}, DEPLOY, JaxbDeploymentStatus.ACCEPTED),
        ({"status": "DEPLOYING"}, DEPLOY, JaxbDeploymentStatus.DEPLOYING),
        ({"status": "DEPLOY_FAILED"}, None, JaxbDeploymentStatus.DEPLOY_FAILED),
        ({"state": "Undeployed", "generation": 2}, UNDEPLOY, JaxbDeploymentStatus.UNDEPLOYING),
        ({"state": "Undeployed", "status": "UNDEPLOYED"}, None, JaxbDeploymentStatus.UNDEPLOYED),
        ({"deleting": True}, UNDEPLOY, JaxbDeploymentStatus.UNDEPLOYING),
    ],
)
def test_status_and_pending(
    kwargs: dict[str, Any], pending: JobOperation | None, status: JaxbDeploymentStatus
) -> None:
    found = unit(**kwargs)
    assert jobs.pending_operation(found) is pending
    assert jobs.unit_status(found) is status


def test_unknown_ids_read_as_undeployed_without_strategy() -> None:
    described = jobs.describe(jobs.state_of(ID, None, None))
    assert described.status is JaxbDeploymentStatus.UNDEPLOYED
    assert described.strategy is None
    assert (described.group_id, described.artifact_id, described.version) == (
        "org.acme",
        "invoice",
        "1.0",
    )
    deployed = jobs.describe(jobs.state_of(ID, unit(), None))
    assert deployed.strategy is RuntimeStrategy.SINGLETON


def test_deploy_of_an_unknown_id_creates_its_unit() -> None:
    decision = decide(DEPLOY, None, strategy=RuntimeStrategy.PER_REQUEST)
    assert isinstance(decision, Admit)
    record = decision.record
    assert (record.action, record.unit, record.seq) == ("create", ids.unit_name(ID), 7)
    assert record.strategy is RuntimeStrategy.PER_REQUEST
    result = decision.result()
    assert (result.identifier, result.success, result.explanation) == (
        7,
        True,
        "deploy job accepted.",
    )
    assert result.deployment_unit.status is JaxbDeploymentStatus.ACCEPTED
    assert result.deployment_unit.strategy is RuntimeStrategy.PER_REQUEST
    default = decide(DEPLOY, None)
    assert isinstance(default, Admit)
    assert default.record.strategy is RuntimeStrategy.SINGLETON


def test_deploy_of_an_undeployed_unit_patches_it() -> None:
    found = unit(
        state="Undeployed", status="UNDEPLOYED", generation=3, observed=3, strategy="SINGLETON"
    )
    decision = decide(DEPLOY, found)
    assert isinstance(decision, Admit)
    assert decision.record.action == "patch"
    assert decision.record.strategy is None  # already set: never written again
    assert decision.record.expected_generation == 4
    assert decision.record.resource_version == 100


def test_deploy_of_a_failed_unit_retries_through_two_generations() -> None:
    decision = decide(DEPLOY, unit(status="DEPLOY_FAILED", generation=2, observed=2))
    assert isinstance(decision, Admit)
    assert decision.record.action == "retry"
    assert decision.record.expected_generation == 4


def test_deploy_refusals() -> None:
    deployed = decide(DEPLOY, unit(strategy="PER_REQUEST"), strategy=RuntimeStrategy.SINGLETON)
    assert refusal(deployed) == "The deployment already exists and must be first undeployed!"
    assert isinstance(deployed, Refuse)
    assert deployed.result.deployment_unit.status is None
    assert deployed.result.deployment_unit.strategy is RuntimeStrategy.PER_REQUEST
    pending_undeploy = unit(state="Undeployed", generation=2)
    assert refusal(decide(DEPLOY, pending_undeploy)).startswith("The deployment already exists")
    assert refusal(decide(DEPLOY, None, pending=3, limit=3)) == (
        "Queue is full with existing incomplete un/deploy jobs"
    )
    assert refusal(decide(DEPLOY, unit(generation=2))) == (
        f"A job already exists to deploy deployment [{ID}]"
    )
    queued = Record(3, DEPLOY, ID, ids.unit_name(ID), "create")
    assert refusal(decide(DEPLOY, None, record=queued)) == (
        f"A job already exists to deploy deployment [{ID}]"
    )
    strategy = decide(
        DEPLOY,
        unit(state="Undeployed", status="UNDEPLOYED", strategy="SINGLETON"),
        strategy=RuntimeStrategy.PER_REQUEST,
    )
    assert refusal(strategy) == (
        f"Unable to deploy deployment '{ID}': IllegalStateException thrown [the runtime "
        "strategy of a deployment cannot change once set (SINGLETON, requested PER_REQUEST)]"
    )
    assert "being deleted" in refusal(decide(DEPLOY, unit(status="DEPLOY_FAILED", deleting=True)))


def test_queue_full_comes_before_an_identical_job() -> None:
    assert refusal(decide(DEPLOY, unit(generation=2), pending=1, limit=1)).startswith(
        "Queue is full"
    )


def test_too_long_ids_are_refused() -> None:
    long_id = "g:a:" + "1" * 129
    state = jobs.state_of(long_id, None, None)
    decision = jobs.decide(Request(DEPLOY, long_id), state, 0, 10, seq=1, now=0, replica="r")
    assert "the version is longer than 128 characters" in refusal(decision)


def test_undeploy_of_a_deployed_unit() -> None:
    decision = decide(UNDEPLOY, unit(strategy="PER_PROCESS_INSTANCE"))
    assert isinstance(decision, Admit)
    assert decision.record.action == "patch"
    result = decision.result()
    assert result.explanation == "undeploy job accepted."
    assert result.deployment_unit.strategy is RuntimeStrategy.PER_PROCESS_INSTANCE
    assert result.deployment_unit.status is JaxbDeploymentStatus.ACCEPTED


@pytest.mark.parametrize(
    ("found", "explanation", "status"),
    [
        (None, jobs.ALREADY_UNDEPLOYED, JaxbDeploymentStatus.UNDEPLOYED),
        (
            unit(state="Undeployed", status="UNDEPLOYED"),
            jobs.ALREADY_UNDEPLOYED,
            JaxbDeploymentStatus.UNDEPLOYED,
        ),
        (unit(generation=2), jobs.NOT_YET_DEPLOYED, JaxbDeploymentStatus.ACCEPTED),
        (unit(status="DEPLOYING"), jobs.NOT_YET_DEPLOYED, JaxbDeploymentStatus.DEPLOYING),
        (
            unit(status="DEPLOY_FAILED"),
            jobs.INITIAL_DEPLOYMENT_FAILED,
            JaxbDeploymentStatus.DEPLOY_FAILED,
        ),
        (
            unit(status="UNDEPLOY_FAILED", state="Undeployed"),
            jobs.LAST_UNDEPLOYMENT_FAILED,
            JaxbDeploymentStatus.UNDEPLOY_FAILED,
        ),
        (
            unit(state="Undeployed", generation=2),
            f"A job already exists to undeploy deployment [{ID}]",
            None,
        ),
        (unit(deleting=True), f"A job already exists to undeploy deployment [{ID}]", None),
    ],
)
def test_undeploy_refusals(
    found: CachedUnit | None, explanation: str, status: JaxbDeploymentStatus | None
) -> None:
    decision = decide(UNDEPLOY, found)
    assert refusal(decision) == explanation
    assert isinstance(decision, Refuse)
    assert decision.result.deployment_unit.status is status


def test_undeploy_texts_are_the_engines() -> None:
    assert jobs.NOT_YET_DEPLOYED == (
        "The deployment can not be undeployed because the initial deployment has not yet "
        "fully completed."
    )
    assert jobs.INITIAL_DEPLOYMENT_FAILED == (
        "The deployment can not be undeployed because the initial deployment failed."
    )
    assert jobs.ALREADY_UNDEPLOYED == (
        "The deployment can not be undeployed because it has already been undeployed "
        "(or is currently being undeployed)"
    )


def test_undeploy_with_a_full_queue() -> None:
    assert refusal(decide(UNDEPLOY, unit(), pending=5, limit=5)) == jobs.QUEUE_FULL


def test_records_round_trip_and_know_when_they_are_written() -> None:
    record = Record(
        5,
        DEPLOY,
        ID,
        "jbpm-x",
        "retry",
        2,
        77,
        RuntimeStrategy.PER_REQUEST,
        MergeMode.KEEP_ALL,
        12.5,
        "r1",
    )
    assert Record.decode("jbpm-x", record.encoded) == record
    assert not jobs.written(record, unit(generation=3, name="jbpm-x"))
    assert jobs.written(record, unit(generation=4, name="jbpm-x"))
    assert jobs.written(record, None)  # the unit is gone: the record no longer applies
    create = Record(6, DEPLOY, ID, "jbpm-x", "create")
    assert not jobs.written(create, None)
    assert jobs.written(create, unit(name="jbpm-x"))
    with pytest.raises(ValueError, match="unknown action"):
        Record.decode("u", '[1,"DEPLOY","explode",0,0,null,null,0,"r","a:b:c"]')
    with pytest.raises(ValueError, match="not a job record"):
        Record.decode("u", '{"seq":1}')


def test_a_written_record_no_longer_shows() -> None:
    record = Record(3, DEPLOY, ID, ids.unit_name(ID), "create")
    assert jobs.state_of(ID, None, record).status is JaxbDeploymentStatus.ACCEPTED
    assert jobs.state_of(ID, unit(), record).status is JaxbDeploymentStatus.DEPLOYED


def test_index_counts_pending_units_and_sorts_deployed_ones() -> None:
    index = JbpmIndex("ns")
    first = unit(deployment_id="b:b:1")
    second = unit(deployment_id="a:a:1", generation=2, status="DEPLOYED")
    camunda = parse_unit(
        {
            "metadata": {"name": "c", "namespace": "ns", "generation": 1},
            "spec": {
                "deploymentId": "camunda-id",
                "resources": {"inline": [{"name": "a.bpmn", "content": "x"}]},
            },
        }
    )
    other_namespace = unit(deployment_id="c:c:1")
    index.update(("ns", first.name), first)
    index.update(("ns", second.name), second)
    index.update(("ns", "c"), camunda)
    index.update(("elsewhere", other_namespace.name), other_namespace)
    assert index.pending_names() == {second.name}
    assert [u.deployment_id for u in index.deployed()] == ["a:a:1", "b:b:1"]
    assert index.unit_for("b:b:1") is first
    assert index.unit_for("camunda-id") is None
    index.update(("ns", second.name), None)
    assert index.pending_count() == 0
    assert [u.deployment_id for u in index.deployed()] == ["b:b:1"]
