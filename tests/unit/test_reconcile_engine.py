"""The pure decisions of a unit's sync with its engine: binding, look-up, and the statuses.

Binding by name, by record and by namespace default (none, one, two); when a push must be looked
up first; which engine deployments may be the unit's push and which one is; the engine's ids and
versions in the unit's definitions; refusals with line and column; an unreachable engine; an
undeploy the engine refuses; what an engine's resync does with each unit (drift, a default
engine created later, retries), the engine's own status, and what an adopted deployment becomes.
"""

from datetime import UTC, datetime, timedelta

import pytest

from deployunits.models.conditions import ConditionType, find
from deployunits.models.deploymentunit import (
    Definition,
    DeploymentStatus,
    DeploymentUnitSpec,
    DeploymentUnitStatus,
    EngineDefinition,
    EngineProblem,
    EngineSync,
    InlineResource,
    Job,
    JobOperation,
    ResourceSources,
)
from deployunits.models.processengine import Camunda7, ProcessEngineSpec
from deployunits.reconcile.deploymentunit import (
    ContentProblem,
    NamedContent,
    deployed_status,
    describe_resources,
    undeployed_status,
)
from deployunits.reconcile.engine import (
    CLOCK_SKEW,
    DELETION_WAITS,
    EngineCandidate,
    EngineDeploymentSeen,
    EngineObservation,
    ResyncAction,
    SyncReason,
    UnitEntry,
    activation_time,
    adopted_unit,
    adopted_unit_name,
    bind,
    bound_units,
    describe_problems,
    engine_definitions,
    engine_status,
    holding_units,
    is_synced,
    needs_lookup,
    pushed_by,
    pushed_name,
    pushed_source,
    pushed_tenant,
    recognize,
    refused_status,
    resync_action,
    synced_status,
    undeploy_refused_status,
    unreachable_status,
    withdrawn_status,
    worth_reading,
)
from tests.support.clock import T0, T1
from tests.support.models import bpmn

UID = "6f1c2a4e-8d3b-4c55-9a71-2b0e5d9f3c10"
SPEC = DeploymentUnitSpec(
    deployment_id="invoice",
    name="invoice",
    source="ci",
    resources=ResourceSources(
        inline=[InlineResource(name="invoice.bpmn", content=bpmn("invoice"))]
    ),
)
JOB = Job(identifier="1", operation=JobOperation.DEPLOY, submitted=T0, started=T0)
OWN = [
    Definition(
        kind="process",
        id="invoice:1:own",
        key="invoice",
        name="Invoice",
        version=1,
        resource="invoice.bpmn",
    )
]


def deployed() -> DeploymentUnitStatus:
    resources = describe_resources(UID, [NamedContent("invoice.bpmn", b"<x/>")])
    return deployed_status(None, JOB, SPEC, resources, OWN, None, 1, T1)


class TestBinding:
    def test_a_named_engine_that_exists_is_the_unit_s_engine(self) -> None:
        assert bind("camunda", [EngineCandidate("camunda", False)]).engine == "camunda"

    def test_a_named_engine_that_does_not_exist_makes_the_unit_wait(self) -> None:
        binding = bind("camunda", [EngineCandidate("other", True)])
        assert binding.engine == "camunda"
        assert binding.problem is not None
        assert binding.problem.temporary
        assert binding.problem.reason == SyncReason.ENGINE_NOT_FOUND

    def test_without_a_name_the_namespace_default_is_taken(self) -> None:
        engines = [EngineCandidate("b", False), EngineCandidate("a", True)]
        assert bind(None, engines).engine == "a"

    def test_without_a_name_or_a_default_the_unit_is_stored_only(self) -> None:
        binding = bind(None, [EngineCandidate("b", False)])
        assert binding == bind(None, [])
        assert binding.engine is None
        assert binding.problem is None

    def test_two_defaults_make_the_unit_wait_rather_than_guess(self) -> None:
        binding = bind(None, [EngineCandidate("b", True), EngineCandidate("a", True)])
        assert binding.engine is None
        assert binding.problem is not None
        assert binding.problem.temporary
        assert "(a, b)" in binding.problem.message

    def test_a_deployed_unit_stays_with_its_engine_when_the_default_moves(self) -> None:
        engines = [EngineCandidate("new", True), EngineCandidate("old", False)]
        assert bind(None, engines, recorded="old").engine == "old"
        assert bind("new", engines, recorded="old").engine == "new"


class TestLookup:
    @pytest.mark.parametrize(
        ("created", "generation", "attempted", "expected"),
        [
            (T1, 1, False, False),  # first seen by this process: the happy path
            (T0 - timedelta(seconds=1), 1, False, True),  # older than this process
            (T0, 1, False, True),  # created in the second this process started (times are whole)
            (T1, 2, False, True),  # a later job of the unit
            (T1, 1, True, True),  # this process tried already (a timeout hides a success)
        ],
    )
    def test_a_push_is_looked_up_only_when_it_may_have_happened(
        self, created: datetime, generation: int, attempted: bool, expected: bool
    ) -> None:
        assert (
            needs_lookup(
                created=created,
                generation=generation,
                active_since=T0,
                attempted_here=attempted,
            )
            is expected
        )

    def test_only_deployments_of_the_same_name_source_tenant_and_time_are_read(self) -> None:
        def seen(**changes: object) -> EngineDeploymentSeen:
            fields: dict[str, object] = {
                "id": "d1",
                "name": "invoice",
                "source": "ci",
                "tenant_id": None,
                "deployment_time": T1,
            }
            return EngineDeploymentSeen(**{**fields, **changes})

        pushed = ("invoice", "ci", None)
        assert worth_reading(seen(), *pushed, T1)
        assert worth_reading(seen(deployment_time=T1 - CLOCK_SKEW), *pushed, T1)
        assert not worth_reading(seen(deployment_time=T0 - CLOCK_SKEW), *pushed, T1)
        assert not worth_reading(seen(name="other"), *pushed, T1)
        assert not worth_reading(seen(source="other"), *pushed, T1)
        assert not worth_reading(seen(tenant_id="t1"), *pushed, T1)
        assert worth_reading(seen(tenant_id="t1"), "invoice", "ci", "t1", T1)

    def test_a_unit_without_a_name_is_pushed_under_its_deployment_id(self) -> None:
        assert pushed_name(SPEC) == "invoice"
        assert pushed_name(SPEC.model_copy(update={"name": None, "deployment_id": "x-1"})) == "x-1"

    def test_the_newest_deployment_with_exactly_the_pushed_bytes_is_the_push(self) -> None:
        old = EngineDeploymentSeen("d1", "invoice", "ci", None, T0)
        new = EngineDeploymentSeen("d2", "invoice", "ci", None, T1)
        other = EngineDeploymentSeen("d3", "invoice", "ci", None, T1 + timedelta(seconds=1))
        pushed = {"invoice.bpmn": "a" * 64}
        candidates = [
            (old, pushed),
            (new, pushed),
            (other, {"invoice.bpmn": "b" * 64}),
        ]
        assert recognize(candidates, pushed) == new
        assert recognize([(other, {"invoice.bpmn": "b" * 64})], pushed) is None
        assert recognize([(old, {**pushed, "extra.dmn": "c" * 64})], pushed) is None


class TestPushMarker:
    """Every push carries the unit's uid in its source: the unit's deployments, current and
    superseded, are known as the unit's and listed by one exact query."""

    def test_the_source_carries_the_unit_s_uid_after_its_own(self) -> None:
        source = pushed_source(SPEC, UID)
        assert source == f"ci (deployunits:{UID})"
        assert pushed_by(source) == UID

    def test_a_unit_without_a_source_is_marked_by_its_uid_alone(self) -> None:
        spec = SPEC.model_copy(update={"source": None})
        assert pushed_source(spec, UID) == f"deployunits:{UID}"
        assert pushed_by(pushed_source(spec, UID)) == UID

    def test_a_long_source_is_cut_to_what_the_engine_stores_and_keeps_the_marker(self) -> None:
        spec = SPEC.model_copy(update={"source": "s" * 255})
        source = pushed_source(spec, UID)
        assert len(source) == 255
        assert pushed_by(source) == UID

    @pytest.mark.parametrize(
        "source", [None, "", "ci", "deployunits:not-a-uid", f"x deployunits:{UID} y"]
    )
    def test_other_sources_are_no_unit_s_push(self, source: str | None) -> None:
        assert pushed_by(source) is None


class TestActivationTime:
    def test_the_annotation_s_time_is_sent_and_a_time_without_offset_is_utc(self) -> None:
        key = "bpm.deployunits.io/activation-time"
        assert activation_time({}) is None
        assert activation_time({key: "2030-01-01T00:00:00.000+0000"}) == datetime(
            2030, 1, 1, tzinfo=UTC
        )
        assert activation_time({key: "2030-01-01T01:00:00"}) == datetime(2030, 1, 1, 1, tzinfo=UTC)

    def test_a_value_that_is_no_time_says_so(self) -> None:
        refused = activation_time({"bpm.deployunits.io/activation-time": "tomorrow"})
        assert isinstance(refused, str)
        assert "no ISO 8601 time: 'tomorrow'" in refused


class TestSynced:
    def test_the_engine_s_ids_and_versions_replace_the_unit_s_own(self) -> None:
        engine = [
            EngineDefinition(
                kind="process", id="invoice:7:e1", key="invoice", version=7, resource="invoice.bpmn"
            ),
            EngineDefinition(kind="decision", id="d:1:e2", key="d", version=1, resource="d.dmn"),
        ]
        merged = engine_definitions(OWN, engine)
        assert [(d.id, d.version, d.name) for d in merged] == [
            ("invoice:7:e1", 7, "Invoice"),
            ("d:1:e2", 1, None),
        ]

    def test_definitions_the_engine_filtered_out_are_left_out(self) -> None:
        assert engine_definitions(OWN, []) == []

    def test_a_synced_status_is_ready_and_records_the_engine_s_deployment(self) -> None:
        sync = EngineSync(
            name="camunda",
            job="1",
            deployment_id="e-42",
            deployment_time=T1,
            definitions=[
                EngineDefinition(
                    kind="process",
                    id="invoice:3:x",
                    key="invoice",
                    version=3,
                    resource="invoice.bpmn",
                )
            ],
        )
        status = synced_status(deployed(), sync, 1, T1)
        assert status.status is DeploymentStatus.DEPLOYED
        assert status.engine is not None
        assert status.engine.deployment_id == "e-42"
        assert [d.version for d in status.definitions] == [3]
        synced = find(status.conditions, ConditionType.ENGINE_SYNCED)
        ready = find(status.conditions, ConditionType.READY)
        assert synced is not None
        assert synced.status == "True"
        assert "e-42" in synced.message
        assert ready is not None
        assert ready.status == "True"
        assert is_synced(status, "camunda", JOB)
        assert not is_synced(status, "other", JOB)
        assert not is_synced(status, "camunda", JOB.model_copy(update={"identifier": "2"}))


class TestRefused:
    def test_the_engine_s_parse_errors_stall_the_unit_with_line_and_column(self) -> None:
        problems = [
            EngineProblem(
                resource="invoice.bpmn",
                message="cvc-complex-type.2.4.a: Invalid content",
                line=12,
                column=7,
                main_element_id="task",
                element_ids=["task", "flow"],
            )
        ]
        status = refused_status(
            None,
            JOB,
            SPEC,
            "camunda",
            "ENGINE-09005 Could not parse BPMN process.",
            problems,
            1,
            T1,
        )
        assert status.status is DeploymentStatus.DEPLOY_FAILED
        stalled = find(status.conditions, ConditionType.STALLED)
        assert stalled is not None
        assert stalled.status == "True"
        assert stalled.reason == SyncReason.ENGINE_REFUSED
        assert "ENGINE-09005" in stalled.message
        assert "invoice.bpmn line 12, column 7: cvc-complex-type" in stalled.message
        assert "(elements: task, flow)" in stalled.message
        assert status.engine is not None
        assert status.engine.problems == problems
        assert status.job is not None
        assert status.job.success is False

    def test_problems_without_a_place_are_told_as_well_as_the_engine_gives_them(self) -> None:
        text = describe_problems(
            [
                EngineProblem(message="no line"),
                EngineProblem(resource="a.bpmn", message="m", line=3, main_element_id="e"),
            ]
        )
        assert text.splitlines() == ["the deployment: no line", "a.bpmn line 3: m (elements: e)"]


class TestUnreachable:
    def test_an_unreachable_engine_keeps_the_job_deploying_and_the_earlier_record(self) -> None:
        before = synced_status(
            deployed(),
            EngineSync(name="camunda", job="0", deployment_id="e-1", deployment_time=T0),
            1,
            T0,
        )
        problem = ContentProblem("connection refused", True, SyncReason.ENGINE_UNAVAILABLE)
        job = Job(identifier="2", operation=JobOperation.DEPLOY, submitted=T1, started=T1)
        status = unreachable_status(before, job, "camunda", problem, 2, T1)
        assert status.status is DeploymentStatus.DEPLOYING
        assert status.engine is not None
        assert status.engine.deployment_id == "e-1"
        reconciling = find(status.conditions, ConditionType.RECONCILING)
        synced = find(status.conditions, ConditionType.ENGINE_SYNCED)
        assert reconciling is not None
        assert reconciling.status == "True"
        assert synced is not None
        assert (synced.status, synced.reason) == ("False", SyncReason.ENGINE_UNAVAILABLE)

    def test_a_first_push_to_an_unreachable_engine_names_the_engine(self) -> None:
        problem = ContentProblem("timeout", True, SyncReason.ENGINE_UNAVAILABLE)
        status = unreachable_status(None, JOB, "camunda", problem, 1, T1)
        assert status.engine == EngineSync(name="camunda")


class TestUndeploy:
    def synced(self) -> DeploymentUnitStatus:
        return synced_status(
            deployed(),
            EngineSync(name="camunda", job="1", deployment_id="e-1", deployment_time=T0),
            1,
            T0,
        )

    def test_a_withdrawn_deployment_is_synced_without_an_engine_id(self) -> None:
        job = Job(identifier="2", operation=JobOperation.UNDEPLOY, submitted=T1, started=T1)
        undeployed = undeployed_status(self.synced(), job, 2, T1)
        status = withdrawn_status(undeployed, 2, T1)
        assert status.status is DeploymentStatus.UNDEPLOYED
        assert status.engine is not None
        assert status.engine.deployment_id is None
        synced = find(status.conditions, ConditionType.ENGINE_SYNCED)
        assert synced is not None
        assert (synced.status, synced.reason) == ("True", SyncReason.UNDEPLOYED)

    def test_running_instances_stall_the_undeploy_with_the_way_out(self) -> None:
        job = Job(identifier="2", operation=JobOperation.UNDEPLOY, submitted=T1, started=T1)
        message = "ENGINE-03076 Deployment e-1 cannot be deleted: there are running instances"
        status = undeploy_refused_status(self.synced(), job, "camunda", "d-1", message, 2, T1)
        assert status.status is DeploymentStatus.UNDEPLOY_FAILED
        stalled = find(status.conditions, ConditionType.STALLED)
        assert stalled is not None
        assert stalled.status == "True"
        assert "ENGINE-03076" in stalled.message
        assert "deletePolicy: Cascade" in stalled.message
        assert status.engine is not None
        assert status.engine.deployment_id == "e-1"


class TestResync:
    """What an engine's resync does with each unit, and the engine's own status."""

    def unit(self, **changes: object) -> UnitEntry:
        fields: dict[str, object] = {
            "name": "u",
            "engine_ref": None,
            "engine": "camunda",
            "deployment_id": "d1",
            "status": "DEPLOYED",
            "deleting": False,
        }
        return UnitEntry(**{**fields, **changes})  # type: ignore[arg-type]

    @pytest.mark.parametrize(
        ("changes", "in_engine", "expected"),
        [
            ({}, {"d1"}, ResyncAction.NOTHING),
            # Drift: the deployment vanished from the engine.
            ({}, set(), ResyncAction.PUSH),
            # A default engine created after the unit was deployed.
            ({"engine": None, "deployment_id": None}, set(), ResyncAction.PUSH),
            ({"status": "DEPLOYING"}, set(), ResyncAction.RETRY),
            ({"status": "UNDEPLOY_FAILED"}, {"d1"}, ResyncAction.RETRY_UNDEPLOY),
            ({"deleting": True}, {"d1"}, ResyncAction.RETRY_UNDEPLOY),
            ({"status": "DEPLOY_FAILED", "deployment_id": None}, set(), ResyncAction.NOTHING),
            ({"status": "UNDEPLOYED", "deployment_id": None}, set(), ResyncAction.NOTHING),
        ],
    )
    def test_each_unit_gets_what_it_lacks(
        self, changes: dict[str, object], in_engine: set[str], expected: ResyncAction
    ) -> None:
        assert resync_action(self.unit(**changes), frozenset(in_engine)) is expected

    def test_an_engine_serves_units_that_name_it_record_it_or_follow_the_default(self) -> None:
        units = [
            self.unit(name="named", engine=None, deployment_id=None, engine_ref="camunda"),
            self.unit(name="recorded"),
            self.unit(name="unbound", engine=None, deployment_id=None),
            self.unit(name="elsewhere", engine="other", deployment_id="d9"),
            self.unit(name="named-elsewhere", engine=None, deployment_id=None, engine_ref="x"),
        ]
        served, owned = bound_units("camunda", False, units)
        assert [u.name for u in served] == ["named", "recorded"]
        assert owned == {"d1"}
        served, _ = bound_units("camunda", True, units)
        assert [u.name for u in served] == ["named", "recorded", "unbound"]

    def test_the_unit_s_tenant_goes_before_the_engine_s_default(self) -> None:
        engine = ProcessEngineSpec(camunda7=Camunda7(url="http://e/engine-rest"), tenant_id="t0")
        assert pushed_tenant(SPEC, engine) == "t0"
        assert pushed_tenant(SPEC.model_copy(update={"tenant_id": "t1"}), engine) == "t1"
        assert pushed_tenant(SPEC, engine.model_copy(update={"tenant_id": None})) is None

    def test_an_answering_engine_is_ready_with_its_version_and_counts(self) -> None:
        seen = EngineObservation(version="7.24.0", deployment_ids=frozenset({"a", "b"}))
        status = engine_status(None, seen, "http://e/engine-rest", 3, 1, 2, T0)
        ready = find(status.conditions, ConditionType.READY)
        assert ready is not None and ready.status == "True"
        assert "7.24.0" in ready.message and "http://e/engine-rest" in ready.message
        assert (status.engine_version, status.deployments, status.unmanaged_deployments) == (
            "7.24.0",
            3,
            1,
        )
        assert status.observed_generation == 2
        stalled = find(status.conditions, ConditionType.STALLED)
        assert stalled is not None and stalled.status == "False"

    def test_refused_credentials_stall_and_an_unreachable_engine_reconciles(self) -> None:
        before = engine_status(None, EngineObservation(version="7.24.0"), "http://e", 1, 0, 1, T0)
        refused = engine_status(
            before,
            EngineObservation(problem="401 not authenticated", temporary=False),
            "http://e",
            1,
            None,
            1,
            T1,
        )
        conditions = {c.type: c for c in refused.conditions}
        assert conditions[ConditionType.READY].status == "False"
        assert conditions[ConditionType.READY].message == "401 not authenticated"
        assert conditions[ConditionType.STALLED].status == "True"
        assert conditions[ConditionType.RECONCILING].status == "False"
        # What the engine showed last is kept while it cannot be asked.
        assert (refused.engine_version, refused.unmanaged_deployments) == ("7.24.0", 0)
        down = engine_status(
            before, EngineObservation(problem="connection refused"), "http://e", 1, None, 1, T1
        )
        conditions = {c.type: c for c in down.conditions}
        assert conditions[ConditionType.RECONCILING].status == "True"
        assert conditions[ConditionType.STALLED].status == "False"


class TestEngineDeletion:
    """A ProcessEngine being deleted waits for the units with deployments in it, keeps them
    bound meanwhile, and takes no new ones."""

    def unit(self, **changes: object) -> UnitEntry:
        return TestResync().unit(**changes)

    def test_its_deletion_waits_for_units_that_may_have_deployments_in_it(self) -> None:
        units = [
            self.unit(name="deployed"),
            self.unit(name="refused", status="UNDEPLOY_FAILED"),
            self.unit(name="going", deployment_id=None, status="DEPLOY_FAILED", deleting=True),
            self.unit(name="undeployed", deployment_id=None, status="UNDEPLOYED"),
            self.unit(name="elsewhere", engine="other"),
            self.unit(name="named", engine=None, deployment_id=None, engine_ref="camunda"),
        ]
        assert holding_units("camunda", units) == ["deployed", "going", "refused"]

    def test_its_status_says_what_the_deletion_waits_for_and_how_to_let_it_go(self) -> None:
        seen = EngineObservation(version="7.24.0")
        names = [f"u{i}" for i in range(12)]
        status = engine_status(None, seen, "http://e", 1, 0, 1, T0, names)
        waiting = find(status.conditions, ConditionType.RECONCILING)
        assert waiting is not None
        assert (waiting.status, waiting.reason) == ("True", DELETION_WAITS)
        assert "12 unit(s)" in waiting.message and "u0, u1" in waiting.message
        assert "and 2 more" in waiting.message and "finalizer" in waiting.message

    def test_units_in_it_stay_and_no_new_unit_binds_to_it(self) -> None:
        going = [EngineCandidate("camunda", True, deleting=True)]
        assert bind(None, going, "camunda").engine == "camunda"
        assert bind("camunda", going, "camunda").engine == "camunda"
        assert bind(None, going).engine is None
        named = bind("camunda", going)
        assert named.problem is not None and named.problem.temporary


class TestAdoption:
    def test_an_engine_deployment_is_imported_under_a_name_its_id_gives(self) -> None:
        assert adopted_unit_name("4F1C-99aa") == "adopted-4f1c-99aa"
        assert adopted_unit_name("a:b") is None
        assert adopted_unit_name("x" * 250) is None

    def test_the_imported_unit_is_bound_labelled_and_holds_the_engine_s_content(self) -> None:
        seen = EngineDeploymentSeen("d-1", "legacy", "old-ci", "t1", T0)
        unit = adopted_unit("camunda", "adopted-d-1", seen, [("a.bpmn", "a" * 64)])
        assert unit is not None
        manifest = unit.manifest()
        assert manifest["metadata"]["labels"] == {"bpm.deployunits.io/adopted": "camunda"}
        assert manifest["metadata"]["annotations"] == {"bpm.deployunits.io/adopted-from": "d-1"}
        assert manifest["spec"] == {
            "deploymentId": "d-1",
            "name": "legacy",
            "source": "old-ci",
            "tenantId": "t1",
            "engineRef": {"name": "camunda"},
            "resources": {"snapshots": [{"name": "a.bpmn", "sha256": "a" * 64}]},
        }

    def test_a_deployment_a_unit_cannot_carry_is_left_alone(self) -> None:
        empty = EngineDeploymentSeen("d-1", "legacy", None, None, T0)
        assert adopted_unit("camunda", "adopted-d-1", empty, []) is None
        odd_tenant = EngineDeploymentSeen("d-1", "legacy", None, "a tenant with spaces", T0)
        assert adopted_unit("camunda", "adopted-d-1", odd_tenant, [("a.bpmn", "a" * 64)]) is None
