"""The pure reconcile of a DeploymentUnit: actions, jobs, content checks, versions and status.

Matrix: decide_action over desired state x recorded status x generation x source digest;
next_job reuse; limits, names, broken XML, executable processes (Camunda vs jBPM), keys given
twice, custom code, non-model files; duplicate filtering (latest resource of each name);
definition ids; version assignment; every status builder with its kstatus conditions; Events.
"""

import re
import uuid
from datetime import datetime

import pytest

from deployunits.content.definitions import ParsedDefinition
from deployunits.content.digest import sha256_hex
from deployunits.models.deploymentunit import (
    MAX_PROCESS_VARIABLES,
    DeploymentStatus,
    DeploymentUnitSpec,
    DeploymentUnitStatus,
    DesiredState,
    InlineResource,
    Job,
    JobOperation,
    ResourceSources,
    StoredResource,
)
from deployunits.reconcile.deploymentunit import (
    Action,
    ContentProblem,
    DuplicateOutcome,
    Limits,
    NamedContent,
    PreviousDeployment,
    UnitReason,
    analyze,
    assign_versions,
    check_limits,
    decide_action,
    definition_id,
    deployed_status,
    describe_resources,
    drift_status,
    failed_status,
    filter_duplicates,
    next_job,
    observed_status,
    source_digest,
    transition,
    undeployed_status,
    waiting_status,
)
from tests.support.clock import T0, T1, T2
from tests.support.models import bpmn, cmmn, dmn

UID = "6f1c2a4e-8d3b-4c55-9a71-2b0e5d9f3c10"
OTHER_UID = "0a9b8c7d-6e5f-4a3b-8c2d-1e0f9a8b7c6d"
NO_LIMITS = Limits()
SCRIPT_TASK = (
    '<bpmn:scriptTask id="calc" scriptFormat="groovy"><bpmn:script>1</bpmn:script>'
    "</bpmn:scriptTask>"
)
#: Camunda's message for two definitions of one kind with the same key in one deployment.
SAME_KEY = (
    "The deployment contains definitions with the same key '{}' (id attribute), this is not allowed"
)


def make_spec(
    state: DesiredState = DesiredState.DEPLOYED,
    content: str = bpmn("invoice"),
    *,
    filtering: bool = False,
    changed_only: bool = False,
) -> DeploymentUnitSpec:
    return DeploymentUnitSpec(
        deployment_id="invoice",
        resources=ResourceSources(inline=[InlineResource(name="invoice.bpmn", content=content)]),
        state=state,
        enable_duplicate_filtering=filtering,
        deploy_changed_only=changed_only,
    )


def recorded(
    current: DeploymentStatus | None,
    *,
    observed: int,
    digest: str | None,
    job: Job | None = None,
) -> DeploymentUnitStatus:
    return DeploymentUnitStatus(
        observed_generation=observed, status=current, source_digest=digest, job=job
    )


def content(**resources: str | bytes) -> list[NamedContent]:
    """NamedContent from keyword arguments; `_` in a keyword stands for `.` in the name."""
    return [
        NamedContent(name.replace("_", "."), data if isinstance(data, bytes) else data.encode())
        for name, data in resources.items()
    ]


def conditions_of(status: DeploymentUnitStatus) -> dict[str, tuple[str, str]]:
    """Condition type → (status, reason)."""
    return {c.type: (c.status, c.reason) for c in status.conditions}


def deploy_job(generation: int = 1) -> Job:
    return next_job(JobOperation.DEPLOY, None, generation, T0)


# decide_action ------------------------------------------------------------------------------

DEPLOYED = DesiredState.DEPLOYED
UNDEPLOYED = DesiredState.UNDEPLOYED
S = DeploymentStatus


@pytest.mark.parametrize(
    ("state", "current", "observed", "generation", "same_sources", "expected"),
    [
        pytest.param(DEPLOYED, None, None, 1, False, Action.DEPLOY, id="new-deployed"),
        pytest.param(UNDEPLOYED, None, None, 1, False, Action.UNDEPLOY, id="new-undeployed"),
        pytest.param(DEPLOYED, S.DEPLOYED, 3, 3, True, Action.NOTHING, id="deployed-observed"),
        pytest.param(DEPLOYED, S.DEPLOYED, 3, 4, True, Action.OBSERVE, id="deployed-new-gen"),
        pytest.param(DEPLOYED, S.DEPLOYED, 3, 4, False, Action.DEPLOY, id="deployed-edited"),
        pytest.param(DEPLOYED, S.DEPLOYED, 3, 3, False, Action.DEPLOY, id="deployed-old-digest"),
        pytest.param(DEPLOYED, S.DEPLOY_FAILED, 3, 3, True, Action.NOTHING, id="failed-observed"),
        pytest.param(DEPLOYED, S.DEPLOY_FAILED, 3, 4, True, Action.DEPLOY, id="failed-new-gen"),
        pytest.param(DEPLOYED, S.DEPLOY_FAILED, 3, 4, False, Action.DEPLOY, id="failed-edited"),
        pytest.param(DEPLOYED, S.DEPLOYING, 3, 3, True, Action.DEPLOY, id="deploying-retry"),
        pytest.param(DEPLOYED, S.UNDEPLOYED, 3, 4, True, Action.DEPLOY, id="undeployed-redeploy"),
        pytest.param(
            DEPLOYED, S.UNDEPLOY_FAILED, 3, 3, True, Action.DEPLOY, id="undeploy-failed-deploy"
        ),
        pytest.param(UNDEPLOYED, S.UNDEPLOYED, 3, 3, True, Action.NOTHING, id="undeployed-seen"),
        pytest.param(UNDEPLOYED, S.UNDEPLOYED, 3, 4, True, Action.OBSERVE, id="undeployed-new"),
        pytest.param(UNDEPLOYED, S.DEPLOYED, 3, 4, True, Action.UNDEPLOY, id="deployed-undeploy"),
        pytest.param(
            UNDEPLOYED, S.DEPLOY_FAILED, 3, 4, True, Action.UNDEPLOY, id="failed-undeploy"
        ),
        pytest.param(UNDEPLOYED, S.DEPLOYING, 3, 4, True, Action.UNDEPLOY, id="deploying-undo"),
    ],
)
def test_decide_action(
    state: DesiredState,
    current: DeploymentStatus | None,
    observed: int | None,
    generation: int,
    same_sources: bool,
    expected: Action,
) -> None:
    spec = make_spec(state)
    status = None
    if current is not None:
        assert observed is not None
        digest = source_digest(spec) if same_sources else source_digest(make_spec(state, "x"))
        status = recorded(current, observed=observed, digest=digest)
    assert decide_action(spec, status, generation) is expected


def test_source_digest_follows_the_sources_only() -> None:
    spec = make_spec()
    assert source_digest(spec) == source_digest(make_spec())
    assert source_digest(spec) == source_digest(make_spec(UNDEPLOYED, filtering=True))
    assert source_digest(spec) != source_digest(make_spec(content=bpmn("other")))
    assert re.fullmatch(r"[0-9a-f]{64}", source_digest(spec))


def test_a_status_without_a_digest_redeploys() -> None:
    status = recorded(S.DEPLOYED, observed=3, digest=None)
    assert decide_action(make_spec(), status, 3) is Action.DEPLOY


# next_job -----------------------------------------------------------------------------------


def test_next_job_starts_a_new_job_without_status() -> None:
    job = next_job(JobOperation.DEPLOY, None, 7, T1)
    assert job == Job(identifier="7", operation=JobOperation.DEPLOY, submitted=T1, started=T1)
    assert job.finished is None
    assert job.success is None


def test_next_job_reuses_the_unfinished_job_of_the_same_operation() -> None:
    running = Job(identifier="3", operation=JobOperation.DEPLOY, submitted=T0, started=T0)
    status = recorded(S.DEPLOYING, observed=3, digest=None, job=running)
    job = next_job(JobOperation.DEPLOY, status, 5, T2)
    assert (job.identifier, job.submitted, job.started) == ("3", T0, T0)


def test_next_job_starts_a_new_job_after_a_finished_one() -> None:
    done = Job(
        identifier="3",
        operation=JobOperation.DEPLOY,
        submitted=T0,
        started=T0,
        finished=T1,
        success=True,
    )
    status = recorded(S.DEPLOYED, observed=3, digest=None, job=done)
    job = next_job(JobOperation.DEPLOY, status, 5, T2)
    assert (job.identifier, job.submitted, job.started, job.finished) == ("5", T2, T2, None)


def test_next_job_starts_a_new_job_for_another_operation() -> None:
    running = Job(identifier="3", operation=JobOperation.DEPLOY, submitted=T0, started=T0)
    status = recorded(S.DEPLOYING, observed=3, digest=None, job=running)
    job = next_job(JobOperation.UNDEPLOY, status, 4, T2)
    assert (job.identifier, job.operation, job.submitted) == ("4", JobOperation.UNDEPLOY, T2)


def test_next_job_reads_a_status_from_the_wire() -> None:
    running = Job(identifier="3", operation=JobOperation.DEPLOY, submitted=T0, started=T0)
    wire = recorded(S.DEPLOYING, observed=3, digest=None, job=running).to_wire()
    status = DeploymentUnitStatus.model_validate(wire)
    assert next_job(JobOperation.DEPLOY, status, 4, T2).identifier == "3"


# check_limits and analyze -------------------------------------------------------------------


def test_content_within_the_limits_passes() -> None:
    assert check_limits(content(a_bpmn=bpmn("a"), b_dmn=dmn("b")), NO_LIMITS) is None


def test_too_many_resources() -> None:
    problem = check_limits(content(a="1", b="2", c="3"), Limits(max_resources=2))
    assert problem is not None
    assert (problem.reason, problem.temporary) == (UnitReason.LIMIT_EXCEEDED, False)
    assert "3 resources" in problem.message
    assert "limit of 2" in problem.message


def test_a_resource_over_the_byte_limit() -> None:
    limits = Limits(max_resource_bytes=10)
    problem = check_limits(content(ok_txt="x" * 10, big_txt="x" * 11), limits)
    assert problem is not None
    assert (problem.reason, problem.temporary) == (UnitReason.LIMIT_EXCEEDED, False)
    assert "'big.txt' has 11 bytes" in problem.message
    assert "limit of 10" in problem.message


def test_a_unit_over_the_total_limit() -> None:
    limits = Limits(max_resource_bytes=10, max_unit_bytes=15)
    problem = check_limits(content(a_txt="x" * 10, b_txt="x" * 10), limits)
    assert problem is not None
    assert problem.reason == UnitReason.LIMIT_EXCEEDED
    assert "20 bytes" in problem.message
    assert "limit of 15" in problem.message


@pytest.mark.parametrize("name", ["../x.bpmn", "/abs.bpmn", "a/../x.bpmn", "a\\x.bpmn", ""])
def test_bad_names(name: str) -> None:
    problem = check_limits([NamedContent(name, bpmn("a").encode())], NO_LIMITS)
    assert problem is not None
    assert (problem.reason, problem.temporary) == (UnitReason.INVALID_CONTENT, False)
    assert repr(name) in problem.message


def test_names_given_twice() -> None:
    items = [NamedContent(name, b"x") for name in ("b.bpmn", "a.bpmn", "b.bpmn", "c.dmn")]
    problem = check_limits(items, NO_LIMITS)
    assert problem is not None
    assert problem.reason == UnitReason.INVALID_CONTENT
    assert problem.message == "resource name(s) given twice: b.bpmn"


def test_no_resources() -> None:
    problem = check_limits([], NO_LIMITS)
    assert problem is not None
    assert (problem.reason, problem.temporary) == (UnitReason.INVALID_CONTENT, False)
    assert "no resources" in problem.message


def test_analyze_refuses_what_check_limits_refuses() -> None:
    items = content(a="1", b="2")
    limits = Limits(max_resources=1)
    assert analyze(items, limits, deny_custom_code=False, jbpm=False) == check_limits(items, limits)


def test_broken_xml_is_a_permanent_problem_with_its_position() -> None:
    broken = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">\n'
        '  <bpmn:process id="p" isExecutable="true">\n'
        "</bpmn:definitions>\n"
    )
    problem = analyze(content(broken_bpmn=broken), NO_LIMITS, deny_custom_code=False, jbpm=False)
    assert isinstance(problem, ContentProblem)
    assert (problem.reason, problem.temporary) == (UnitReason.INVALID_CONTENT, False)
    assert "'broken.bpmn'" in problem.message
    assert "line 4" in problem.message
    assert "column" in problem.message


def test_a_model_of_the_wrong_kind_is_refused() -> None:
    problem = analyze(content(a_bpmn=dmn("d")), NO_LIMITS, deny_custom_code=False, jbpm=False)
    assert isinstance(problem, ContentProblem)
    assert problem.reason == UnitReason.INVALID_CONTENT
    assert "'a.bpmn'" in problem.message


def test_definitions_of_every_model_in_name_order() -> None:
    items = content(z_bpmn=bpmn("pay"), a_dmn=dmn("d1", "d2"), m_cmmn=cmmn("claim"))
    parsed = analyze(items, NO_LIMITS, deny_custom_code=False, jbpm=False)
    assert isinstance(parsed, list)
    assert [(p.resource, p.kind, p.key) for p in parsed] == [
        ("a.dmn", "decision-requirements", "drd"),
        ("a.dmn", "decision", "d1"),
        ("a.dmn", "decision", "d2"),
        ("m.cmmn", "case", "claim"),
        ("z.bpmn", "process", "pay"),
    ]


def test_camunda_skips_non_executable_processes_and_jbpm_keeps_them() -> None:
    items = content(a_bpmn=bpmn("run"), b_bpmn=bpmn("draft", executable=False))
    camunda = analyze(items, NO_LIMITS, deny_custom_code=False, jbpm=False)
    jbpm = analyze(items, NO_LIMITS, deny_custom_code=False, jbpm=True)
    assert isinstance(camunda, list)
    assert isinstance(jbpm, list)
    assert [p.key for p in camunda] == ["run"]
    assert [p.key for p in jbpm] == ["run", "draft"]


def with_variables(count: int) -> str:
    properties = "".join(f'<bpmn:property id="v{i}" itemSubjectRef="text"/>' for i in range(count))
    return (
        bpmn("vars")
        .replace(
            '<bpmn:process id="vars"',
            '<bpmn:itemDefinition id="text" structureRef="String"/><bpmn:process id="vars"',
        )
        .replace('isExecutable="true">', f'isExecutable="true">{properties}', 1)
    )


def test_only_jbpm_units_record_process_variables() -> None:
    items = content(v_bpmn=with_variables(2))
    camunda = analyze(items, NO_LIMITS, deny_custom_code=False, jbpm=False)
    jbpm = analyze(items, NO_LIMITS, deny_custom_code=False, jbpm=True)
    assert isinstance(camunda, list)
    assert isinstance(jbpm, list)
    assert [p.variables for p in camunda] == [()]
    assert [p.variables for p in jbpm] == [(("v0", "String"), ("v1", "String"))]
    [definition] = assign_versions(jbpm, {("process", "vars"): 1}, "uid")
    assert [(v.name, v.type) for v in definition.variables or ()] == list(jbpm[0].variables)


def test_more_process_variables_than_the_status_holds_are_refused() -> None:
    items = content(v_bpmn=with_variables(MAX_PROCESS_VARIABLES + 1))
    problem = analyze(items, NO_LIMITS, deny_custom_code=False, jbpm=True)
    assert isinstance(problem, ContentProblem)
    assert (problem.reason, problem.temporary) == (UnitReason.LIMIT_EXCEEDED, False)
    assert f"more than {MAX_PROCESS_VARIABLES}" in problem.message


def test_the_same_key_in_two_resources_is_refused_with_the_engines_message() -> None:
    items = content(a_bpmn=bpmn("k"), b_bpmn=bpmn("k"))
    problem = analyze(items, NO_LIMITS, deny_custom_code=False, jbpm=False)
    assert isinstance(problem, ContentProblem)
    assert (problem.reason, problem.temporary) == (UnitReason.INVALID_CONTENT, False)
    assert problem.message == SAME_KEY.format("k")


def test_a_non_executable_process_does_not_clash_in_camunda() -> None:
    items = content(a_bpmn=bpmn("k"), b_bpmn=bpmn("k", executable=False))
    assert isinstance(analyze(items, NO_LIMITS, deny_custom_code=False, jbpm=False), list)
    problem = analyze(items, NO_LIMITS, deny_custom_code=False, jbpm=True)
    assert isinstance(problem, ContentProblem)
    assert problem.message == SAME_KEY.format("k")


def test_the_same_key_for_different_kinds_is_allowed() -> None:
    items = content(a_bpmn=bpmn("k"), b_dmn=dmn("k"), c_cmmn=cmmn("k"))
    parsed = analyze(items, NO_LIMITS, deny_custom_code=False, jbpm=False)
    assert isinstance(parsed, list)
    assert sorted(p.kind for p in parsed) == ["case", "decision", "process"]


def test_custom_code_is_refused_when_the_namespace_denies_it() -> None:
    items = content(calc_bpmn=bpmn("calc_process", extra=SCRIPT_TASK), plain_bpmn=bpmn("plain"))
    problem = analyze(items, NO_LIMITS, deny_custom_code=True, jbpm=False)
    assert isinstance(problem, ContentProblem)
    assert (problem.reason, problem.temporary) == (UnitReason.CUSTOM_CODE_REFUSED, False)
    assert "calc.bpmn: scriptTask 'calc'" in problem.message
    assert "plain" not in problem.message
    allowed = analyze(items, NO_LIMITS, deny_custom_code=False, jbpm=False)
    assert isinstance(allowed, list)
    assert [p.key for p in allowed] == ["calc_process", "plain"]


def test_non_model_files_declare_nothing() -> None:
    items = content(rules_drl="rule 'r' when then end", notes_txt="<not xml", kmodule_xml="<x/>")
    assert analyze(items, NO_LIMITS, deny_custom_code=True, jbpm=True) == []
    mixed = analyze(
        [*items, *content(p_bpmn=bpmn("p"))], NO_LIMITS, deny_custom_code=True, jbpm=True
    )
    assert isinstance(mixed, list)
    assert [p.key for p in mixed] == ["p"]


# describe_resources and filter_duplicates ---------------------------------------------------


def test_describe_resources_in_name_order_with_snapshots() -> None:
    described = describe_resources(UID, content(b_bpmn="B", a_bpmn="A"))
    assert [r.name for r in described] == ["a.bpmn", "b.bpmn"]
    first = described[0]
    assert (first.sha256, first.size, first.config_map, first.key) == (
        sha256_hex(b"A"),
        1,
        None,
        None,
    )
    stored_in = {sha256_hex(b"A"): ("bpm-snapshot-a", "content"), sha256_hex(b"B"): ("b", "k.gz")}
    located = describe_resources(UID, content(b_bpmn="B", a_bpmn="A"), stored_in)
    assert [(r.config_map, r.key) for r in located] == [
        ("bpm-snapshot-a", "content"),
        ("b", "k.gz"),
    ]
    assert first.id == describe_resources(UID, content(a_bpmn="other"))[0].id
    assert first.id != describe_resources(OTHER_UID, content(a_bpmn="A"))[0].id


def stored(**resources: str) -> list[StoredResource]:
    return describe_resources(UID, content(**resources))


def earlier(deployment_id: str, at: datetime, **resources: str) -> PreviousDeployment:
    hashes = {name.replace("_", "."): sha256_hex(data.encode()) for name, data in resources.items()}
    return PreviousDeployment(deployment_id, at, hashes)


ALL = frozenset({"a.bpmn", "b.bpmn"})


def test_without_filtering_every_resource_deploys() -> None:
    history = [earlier("d1", T0, a_bpmn="A", b_bpmn="B")]
    outcome = filter_duplicates(make_spec(), stored(a_bpmn="A", b_bpmn="B"), history)
    assert outcome == DuplicateOutcome(None, ALL)


def test_filtering_without_history_deploys_everything() -> None:
    outcome = filter_duplicates(make_spec(filtering=True), stored(a_bpmn="A", b_bpmn="B"), [])
    assert outcome == DuplicateOutcome(None, ALL)


def test_identical_content_duplicates_the_latest_deployment() -> None:
    history = [earlier("d1", T0, a_bpmn="A", b_bpmn="B")]
    outcome = filter_duplicates(make_spec(filtering=True), stored(a_bpmn="A", b_bpmn="B"), history)
    assert outcome == DuplicateOutcome("d1", frozenset())


def test_one_changed_resource_with_changed_only() -> None:
    history = [earlier("d1", T0, a_bpmn="A", b_bpmn="B")]
    spec = make_spec(filtering=True, changed_only=True)
    outcome = filter_duplicates(spec, stored(a_bpmn="A", b_bpmn="B2"), history)
    assert outcome == DuplicateOutcome(None, frozenset({"b.bpmn"}))


def test_one_changed_resource_without_changed_only_deploys_all() -> None:
    history = [earlier("d1", T0, a_bpmn="A", b_bpmn="B")]
    outcome = filter_duplicates(make_spec(filtering=True), stored(a_bpmn="A", b_bpmn="B2"), history)
    assert outcome == DuplicateOutcome(None, ALL)


def test_a_new_resource_name_counts_as_changed() -> None:
    history = [earlier("d1", T0, a_bpmn="A")]
    spec = make_spec(filtering=True, changed_only=True)
    outcome = filter_duplicates(spec, stored(a_bpmn="A", b_bpmn="B"), history)
    assert outcome == DuplicateOutcome(None, frozenset({"b.bpmn"}))


@pytest.mark.parametrize("newest_first", [True, False])
def test_each_name_compares_with_its_latest_resource(newest_first: bool) -> None:
    older = earlier("d1", T0, a_bpmn="A1", b_bpmn="B")
    newer = earlier("d2", T1, a_bpmn="A2")
    history = [newer, older] if newest_first else [older, newer]
    spec = make_spec(filtering=True, changed_only=True)
    # a.bpmn's latest is d2's A2, b.bpmn's latest is still d1's B.
    same = filter_duplicates(spec, stored(a_bpmn="A2", b_bpmn="B"), history)
    assert same == DuplicateOutcome("d2", frozenset())
    # Going back to d1's A1 is a change: only the latest resource of a name counts.
    back = filter_duplicates(spec, stored(a_bpmn="A1", b_bpmn="B"), history)
    assert back == DuplicateOutcome(None, frozenset({"a.bpmn"}))


# definition_id and assign_versions ----------------------------------------------------------


def test_definition_id_is_key_version_unique() -> None:
    identifier = definition_id("invoice", 3, UID)
    key, version, unique = identifier.split(":")
    assert (key, version) == ("invoice", "3")
    assert str(uuid.UUID(unique)) == unique
    assert len(identifier) <= 64


def test_definition_id_is_stable_per_unit_and_key() -> None:
    assert definition_id("invoice", 3, UID) == definition_id("invoice", 3, UID)
    assert definition_id("invoice", 3, UID) != definition_id("invoice", 3, OTHER_UID)
    assert definition_id("invoice", 3, UID) != definition_id("receipt", 3, UID)
    unique = definition_id("invoice", 3, UID).split(":")[2]
    assert definition_id("invoice", 4, UID).split(":")[2] == unique


def test_a_long_key_gives_only_the_unique_part() -> None:
    # key + ":1:" + 36 characters of uuid: 25 characters of key fill exactly 64.
    fits = definition_id("k" * 25, 1, UID)
    assert fits.startswith("k" * 25 + ":1:")
    assert len(fits) == 64
    for key, version in (("k" * 26, 1), ("k" * 25, 10), ("x" * 255, 1)):
        only_unique = definition_id(key, version, UID)
        assert str(uuid.UUID(only_unique)) == only_unique
    # The unique part alone is the same for every version of a key.
    assert definition_id("k" * 25, 10, UID) == fits.split(":")[2]


def test_assign_versions_maps_every_field() -> None:
    process = ParsedDefinition(
        kind="process",
        key="pay",
        name="Pay",
        resource="pay.bpmn",
        version_tag="v7",
        history_time_to_live="P30D",
        startable=False,
        jbpm_version="1.2",
        package_name="org.acme",
        category="http://bpmn.io/schema/bpmn",
    )
    decision = ParsedDefinition(
        kind="decision",
        key="approve",
        name=None,
        resource="rules.dmn",
        history_time_to_live="5",
        decision_requirements_key="drd",
        category="http://camunda.org/schema/1.0/dmn",
    )
    versions = {("process", "pay"): 4, ("decision", "approve"): 1}
    pay, approve = assign_versions([process, decision], versions, UID)
    assert pay.to_wire() == {
        "kind": "process",
        "id": definition_id("pay", 4, UID),
        "key": "pay",
        "name": "Pay",
        "version": 4,
        "versionTag": "v7",
        "resource": "pay.bpmn",
        "category": "http://bpmn.io/schema/bpmn",
        "historyTimeToLive": 30,
        "startable": False,
        "packageName": "org.acme",
        "modelVersion": "1.2",
    }
    assert approve.to_wire() == {
        "kind": "decision",
        "id": definition_id("approve", 1, UID),
        "key": "approve",
        "version": 1,
        "resource": "rules.dmn",
        "category": "http://camunda.org/schema/1.0/dmn",
        "historyTimeToLive": 5,
        "decisionRequirementsKey": "drd",
    }


def test_assign_versions_marks_only_processes_startable() -> None:
    items = content(p_bpmn=bpmn("p"), c_cmmn=cmmn("c"), d_dmn=dmn("d"))
    parsed = analyze(items, NO_LIMITS, deny_custom_code=False, jbpm=False)
    assert isinstance(parsed, list)
    versions: dict[tuple[str, str], int] = {(p.kind, p.key): 1 for p in parsed}
    startable = {d.kind: d.startable for d in assign_versions(parsed, versions, UID)}
    assert startable == {"process": True, "case": None, "decision": None}


# status builders ----------------------------------------------------------------------------


def a_deployed(generation: int = 1, at: datetime = T0) -> DeploymentUnitStatus:
    spec = make_spec()
    resources = stored(invoice_bpmn=bpmn("invoice"))
    parsed = analyze(
        content(invoice_bpmn=bpmn("invoice")), NO_LIMITS, deny_custom_code=False, jbpm=False
    )
    assert isinstance(parsed, list)
    definitions = assign_versions(parsed, {("process", "invoice"): 1}, UID)
    job = next_job(JobOperation.DEPLOY, None, generation, at)
    return deployed_status(None, job, spec, resources, definitions, None, generation, at)


def test_deployed_status() -> None:
    status = a_deployed(generation=2, at=T1)
    assert status.observed_generation == 2
    assert status.status is S.DEPLOYED
    assert status.deployment_time == T1
    assert [r.name for r in status.resources] == ["invoice.bpmn"]
    assert [(d.key, d.version) for d in status.definitions] == [("invoice", 1)]
    assert status.duplicate_of is None
    assert status.source_digest == source_digest(make_spec())
    assert status.job is not None
    assert (status.job.identifier, status.job.finished, status.job.success) == ("2", T1, True)
    assert status.job.explanation == "deploy job finished"
    assert conditions_of(status) == {
        "Ready": ("True", "Deployed"),
        "Deployed": ("True", "Deployed"),
        "Reconciling": ("False", "JobFinished"),
        "Stalled": ("False", "NoFailure"),
        "SourceDrifted": ("False", "SourceUnchanged"),
    }
    assert {c.observed_generation for c in status.conditions} == {2}
    assert {c.last_transition_time for c in status.conditions} == {T1}
    assert "1 resource(s), 1 definition(s)" in status.conditions[0].message
    assert DeploymentUnitStatus.model_validate(status.to_wire()) == status
    assert decide_action(make_spec(), status, 2) is Action.NOTHING


def test_deployed_status_of_a_duplicate() -> None:
    job = deploy_job()
    resources = stored(invoice_bpmn=bpmn("invoice"))
    status = deployed_status(None, job, make_spec(), resources, [], "d1", 1, T0)
    assert status.duplicate_of == "d1"
    assert conditions_of(status)["Ready"] == ("True", "Duplicate")
    assert conditions_of(status)["Deployed"] == ("True", "Duplicate")
    assert "d1" in status.conditions[0].message


def test_a_redeploy_keeps_the_ready_transition_time() -> None:
    first = a_deployed(generation=1, at=T0)
    spec = make_spec(content=bpmn("invoice", "refund"))
    job = next_job(JobOperation.DEPLOY, first, 2, T1)
    again = deployed_status(first, job, spec, first.resources, [], None, 2, T1)
    ready = next(c for c in again.conditions if c.type == "Ready")
    assert (ready.last_transition_time, ready.observed_generation) == (T0, 2)
    assert again.deployment_time == T1
    assert again.source_digest == source_digest(spec)
    assert transition(first, again) is None


def test_failed_status() -> None:
    spec = make_spec()
    problem = ContentProblem("resource 'a.bpmn' line 1, column 1: broken", False)
    status = failed_status(None, deploy_job(3), problem, spec, 3, T1)
    assert status.observed_generation == 3
    assert status.status is S.DEPLOY_FAILED
    assert status.definitions == []
    assert status.source_digest == source_digest(spec)
    assert status.job is not None
    assert (status.job.finished, status.job.success) == (T1, False)
    assert status.job.explanation == problem.message
    assert conditions_of(status) == {
        "Ready": ("False", "InvalidContent"),
        "Deployed": ("False", "InvalidContent"),
        "Reconciling": ("False", "JobFailed"),
        "Stalled": ("True", "InvalidContent"),
    }
    stalled = next(c for c in status.conditions if c.type == "Stalled")
    assert stalled.message == problem.message
    assert DeploymentUnitStatus.model_validate(status.to_wire()) == status
    # A permanent failure waits for the next edit.
    assert decide_action(spec, status, 3) is Action.NOTHING
    assert decide_action(spec, status, 4) is Action.DEPLOY


def test_failed_after_deployed_withdraws_the_definitions() -> None:
    deployed = a_deployed()
    problem = ContentProblem("custom code", False, UnitReason.CUSTOM_CODE_REFUSED)
    job = next_job(JobOperation.DEPLOY, deployed, 2, T1)
    status = failed_status(deployed, job, problem, make_spec(), 2, T1)
    assert status.definitions == []
    assert conditions_of(status)["Deployed"] == ("False", "CustomCodeRefused")
    assert conditions_of(status)["Stalled"] == ("True", "CustomCodeRefused")
    # SourceDrifted from the deployment is left as it was.
    assert conditions_of(status)["SourceDrifted"] == ("False", "SourceUnchanged")


def test_waiting_status() -> None:
    spec = make_spec()
    problem = ContentProblem("ConfigMap 'models' not found", True, UnitReason.WAITING_FOR_CONTENT)
    job = deploy_job(3)
    status = waiting_status(None, job, problem, 3, T1)
    assert status.observed_generation == 3
    assert status.status is S.DEPLOYING
    assert status.source_digest is None
    assert status.job is not None
    assert (status.job.identifier, status.job.finished, status.job.success) == ("3", None, None)
    assert status.job.explanation == problem.message
    assert conditions_of(status) == {
        "Ready": ("False", "WaitingForContent"),
        "Deployed": ("False", "WaitingForContent"),
        "Reconciling": ("True", "WaitingForContent"),
        "Stalled": ("False", "NoFailure"),
    }
    # The retry picks the same job up again.
    assert decide_action(spec, status, 3) is Action.DEPLOY
    assert next_job(JobOperation.DEPLOY, status, 3, T2).identifier == "3"


def test_waiting_after_deployed_keeps_deployed_true() -> None:
    deployed = a_deployed()
    problem = ContentProblem("Maven repository unavailable", True, UnitReason.SOURCE_UNAVAILABLE)
    status = waiting_status(deployed, deploy_job(2), problem, 2, T1)
    assert conditions_of(status)["Deployed"] == ("True", "SourceUnavailable")
    assert conditions_of(status)["Ready"] == ("False", "SourceUnavailable")
    assert status.definitions == deployed.definitions


def test_a_long_problem_message_fits_the_status() -> None:
    tasks = "".join(
        f'<bpmn:scriptTask id="script_{n:04}" scriptFormat="groovy"/>' for n in range(1000)
    )
    problem = analyze(
        content(a_bpmn=bpmn("p", extra=tasks)), NO_LIMITS, deny_custom_code=True, jbpm=False
    )
    assert isinstance(problem, ContentProblem)
    assert len(problem.message) > 32768
    job = deploy_job()
    for status in (
        failed_status(None, job, problem, make_spec(), 1, T0),
        waiting_status(None, job, problem, 1, T0),
    ):
        # What the API server would accept: the CRD bounds job.explanation at 32768.
        DeploymentUnitStatus.model_validate(status.to_wire())


def test_undeployed_status() -> None:
    deployed = a_deployed(generation=1, at=T0)
    job = next_job(JobOperation.UNDEPLOY, deployed, 2, T1)
    status = undeployed_status(deployed, job, 2, T1)
    assert status.observed_generation == 2
    assert status.status is S.UNDEPLOYED
    assert status.definitions == []
    assert status.resources == deployed.resources  # snapshots kept for a later deploy
    assert status.job is not None
    assert (status.job.operation, status.job.identifier) == (JobOperation.UNDEPLOY, "2")
    assert (status.job.finished, status.job.success) == (T1, True)
    assert status.job.explanation == "undeploy job finished"
    assert conditions_of(status) == {
        "Ready": ("True", "Undeployed"),
        "Deployed": ("False", "Undeployed"),
        "Reconciling": ("False", "JobFinished"),
        "Stalled": ("False", "NoFailure"),
        "SourceDrifted": ("False", "SourceUnchanged"),
    }
    times = {c.type: c.last_transition_time for c in status.conditions}
    assert (times["Ready"], times["Deployed"]) == (T0, T1)
    assert decide_action(make_spec(UNDEPLOYED), status, 2) is Action.NOTHING
    assert decide_action(make_spec(), status, 3) is Action.DEPLOY


def test_undeployed_status_without_status() -> None:
    job = next_job(JobOperation.UNDEPLOY, None, 1, T0)
    status = undeployed_status(None, job, 1, T0)
    assert status.status is S.UNDEPLOYED
    assert conditions_of(status)["Ready"] == ("True", "Undeployed")


def test_observed_status_acknowledges_a_generation() -> None:
    deployed = a_deployed(generation=1, at=T0)
    status = observed_status(deployed, 2, T1)
    assert status.observed_generation == 2
    assert {c.observed_generation for c in status.conditions} == {2}
    assert {c.last_transition_time for c in status.conditions} == {T0}
    assert conditions_of(status) == conditions_of(deployed)
    unchanged = ("status", "job", "resources", "definitions", "source_digest", "deployment_time")
    for field in unchanged:
        assert getattr(status, field) == getattr(deployed, field)
    assert decide_action(make_spec(), status, 2) is Action.NOTHING


def test_drift_status() -> None:
    deployed = a_deployed(generation=1, at=T0)
    assert drift_status(deployed, [], 1, T1) is None
    drifted = drift_status(deployed, ["b.bpmn", "a.bpmn"], 1, T1)
    assert drifted is not None
    drift = next(c for c in drifted.conditions if c.type == "SourceDrifted")
    assert (drift.status, drift.reason, drift.last_transition_time) == ("True", "SourceChanged", T1)
    assert "a.bpmn, b.bpmn" in drift.message
    others = [c for c in drifted.conditions if c.type != "SourceDrifted"]
    assert others == [c for c in deployed.conditions if c.type != "SourceDrifted"]
    assert drifted.status is S.DEPLOYED
    assert drift_status(drifted, ["a.bpmn", "b.bpmn"], 1, T2) is None
    settled = drift_status(drifted, [], 1, T2)
    assert settled is not None
    assert conditions_of(settled)["SourceDrifted"] == ("False", "SourceUnchanged")


def test_drift_status_without_a_condition_adds_one() -> None:
    status = DeploymentUnitStatus(observed_generation=1, status=S.DEPLOYED)
    changed = drift_status(status, [], 1, T0)
    assert changed is not None
    assert conditions_of(changed) == {"SourceDrifted": ("False", "SourceUnchanged")}


# transition ---------------------------------------------------------------------------------


def test_transition_of_a_new_unit() -> None:
    event = transition(None, a_deployed())
    assert event is not None
    assert (event.type, event.reason) == ("Normal", "Deployed")
    assert event.message == "NEW -> DEPLOYED: deploy job finished"


def test_transition_to_failed_is_a_warning() -> None:
    deployed = a_deployed()
    problem = ContentProblem("broken", False)
    failed = failed_status(deployed, deploy_job(2), problem, make_spec(), 2, T1)
    event = transition(deployed, failed)
    assert event is not None
    assert (event.type, event.reason) == ("Warning", "DeployFailed")
    assert event.message == "DEPLOYED -> DEPLOY_FAILED: broken"


@pytest.mark.parametrize(
    ("status", "kind", "reason"),
    [
        (S.DEPLOYING, "Normal", "Deploying"),
        (S.UNDEPLOYED, "Normal", "Undeployed"),
        (S.UNDEPLOYING, "Normal", "Undeploying"),
        (S.UNDEPLOY_FAILED, "Warning", "UndeployFailed"),
        (S.ACCEPTED, "Normal", "Accepted"),
    ],
)
def test_transition_reasons_are_camel_case(
    status: DeploymentStatus, kind: str, reason: str
) -> None:
    event = transition(a_deployed(), DeploymentUnitStatus(status=status))
    assert event is not None
    assert (event.type, event.reason) == (kind, reason)
    assert event.message == f"DEPLOYED -> {status.value}"


def test_no_transition_without_a_change() -> None:
    deployed = a_deployed()
    assert transition(deployed, observed_status(deployed, 2, T1)) is None
    assert transition(None, DeploymentUnitStatus()) is None
    problem = ContentProblem("still waiting", True, UnitReason.WAITING_FOR_CONTENT)
    waiting = waiting_status(None, deploy_job(), problem, 1, T0)
    assert transition(waiting, waiting_status(waiting, deploy_job(), problem, 1, T1)) is None


def test_transition_messages_are_bounded() -> None:
    failed = failed_status(
        None, deploy_job(), ContentProblem("x" * 5000, False), make_spec(), 1, T0
    )
    event = transition(None, failed)
    assert event is not None
    assert len(event.message) == 1024
    assert event.message.startswith("NEW -> DEPLOY_FAILED: xxx")


@pytest.mark.parametrize(
    ("attribute", "value"),
    [("name", "n" * 1025), ("camunda:versionTag", "v" * 256)],
)
def test_an_over_long_attribute_is_a_content_problem_not_a_crash(
    attribute: str, value: str
) -> None:
    document = bpmn("p").replace('id="p"', f'id="p" {attribute}="{value}"', 1)
    document = document.replace(' name="P"', "", 1) if attribute == "name" else document
    parsed = analyze(content(p_bpmn=document), NO_LIMITS, deny_custom_code=False, jbpm=False)
    if isinstance(parsed, ContentProblem):
        assert (parsed.reason, parsed.temporary) == (UnitReason.INVALID_CONTENT, False)
        return
    assign_versions(parsed, {("process", "p"): 1}, UID)
