"""The KIE Server side's pure parts: container ids, container plans, refusals, answers, specs.

Container ids round-trip for every deployment id (hypothesis), use only the characters a KIE
Server and a URL path take as they are, and decode only their canonical form; a unit's plan
carries its kjar, strategy, kbase and ksession, and a unit that is no kjar is refused with a
message saying why; the server's answers are classified (missing kjar, unknown container,
credentials, unavailability); a ProcessEngine has exactly one kind; a KIE Server's report of a
process (name, package, version string, variables) is what the unit's definitions show.
"""

import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from deployunits.engines import (
    EngineNotFound,
    EngineRefused,
    EngineUnauthorized,
    EngineUnavailable,
    MissingKjar,
    classify_kie,
)
from deployunits.models.conditions import now
from deployunits.models.deploymentunit import (
    Definition,
    DeploymentUnitSpec,
    EngineDefinition,
    ProcessVariable,
)
from deployunits.models.processengine import ProcessEngineSpec
from deployunits.reconcile import engine as decide
from deployunits.reconcile import kie
from deployunits.reconcile.engine import EngineObservation, engine_status

_PART = st.text(alphabet="ABCXYZabcxyz0189_.-", min_size=1, max_size=20)
JBPM_IDS = st.builds(lambda parts: ":".join(parts), st.lists(_PART, min_size=3, max_size=5))


class TestContainerIds:
    @given(JBPM_IDS)
    def test_jbpm_ids_round_trip(self, deployment_id: str) -> None:
        container = kie.container_id(deployment_id)
        assert re.fullmatch(r"[A-Za-z0-9._-]+", container)
        assert ":" not in container
        assert kie.deployment_id_of(container) == deployment_id

    @given(st.text(min_size=1, max_size=40))
    def test_any_text_round_trips(self, deployment_id: str) -> None:
        assert kie.deployment_id_of(kie.container_id(deployment_id)) == deployment_id

    @given(JBPM_IDS, JBPM_IDS)
    def test_different_ids_never_share_a_container(self, one: str, other: str) -> None:
        assert (kie.container_id(one) == kie.container_id(other)) == (one == other)

    def test_the_documented_examples(self) -> None:
        assert kie.container_id("org.acme:evaluation:1.0") == "org.acme_3Aevaluation_3A1.0"
        assert kie.container_id("my_kjar") == "my_5Fkjar"
        assert kie.deployment_id_of("org.acme_3Aevaluation_3A1.0") == "org.acme:evaluation:1.0"

    @pytest.mark.parametrize(
        "container",
        [
            "a_3",  # a cut escape
            "a_zz",  # not hex
            "a_3a",  # lower-case hex is not the canonical form
            "a_41",  # an escaped 'A', which the mapping keeps as it is
            "a:b",  # a character no container id of the mapping has
            "a_FF",  # not UTF-8
            "",
        ],
    )
    def test_ids_the_mapping_never_makes_decode_to_none(self, container: str) -> None:
        assert kie.deployment_id_of(container) is None


def spec(**changes: object) -> DeploymentUnitSpec:
    body: dict[str, object] = {
        "deploymentId": "org.acme:evaluation:1.0.0",
        "resources": {
            "maven": {"groupId": "org.acme", "artifactId": "evaluation", "version": "1.0.0"}
        },
    }
    body.update(changes)
    return DeploymentUnitSpec.model_validate(body)


class TestContainerPlan:
    def test_the_kjar_and_the_default_strategy(self) -> None:
        plan = kie.container_plan(spec())
        assert isinstance(plan, kie.ContainerPlan)
        assert plan.container_id == "org.acme_3Aevaluation_3A1.0.0"
        assert plan.release == "org.acme:evaluation:1.0.0"
        assert plan.settings == (("RuntimeStrategy", "SINGLETON"),)

    def test_strategy_kbase_and_ksession_from_the_unit(self) -> None:
        plan = kie.container_plan(
            spec(deploymentId="org.acme:evaluation:1.0.0:kb:ks", strategy="PER_PROCESS_INSTANCE")
        )
        assert isinstance(plan, kie.ContainerPlan)
        assert plan.settings == (
            ("RuntimeStrategy", "PER_PROCESS_INSTANCE"),
            ("KBase", "kb"),
            ("KSession", "ks"),
        )

    def test_an_empty_kbase_leaves_the_default(self) -> None:
        plan = kie.container_plan(spec(deploymentId="org.acme:evaluation:1.0.0::ks"))
        assert isinstance(plan, kie.ContainerPlan)
        assert plan.settings == (("RuntimeStrategy", "SINGLETON"), ("KSession", "ks"))

    def test_inline_bpmn_is_refused_with_the_reason(self) -> None:
        refused = kie.container_plan(
            spec(resources={"inline": [{"name": "p.bpmn", "content": "<definitions/>"}]})
        )
        assert isinstance(refused, str)
        assert "KIE Server deploys kjars only" in refused
        assert "inline resources" in refused
        assert "spec.resources.maven" in refused

    def test_the_missing_kjar_message_names_the_repository(self) -> None:
        said = "Cannot find KieModule: org.acme:x:1"
        message = kie.missing_kjar_message(said, "org.acme:x:1", "http://repo.example/maven2")
        assert "http://repo.example/maven2" in message and said in message
        assert "the Maven repository the operator reads" in kie.missing_kjar_message(
            said, "org.acme:x:1", None
        )

    def test_the_instances_message_has_the_count_and_the_ids(self) -> None:
        message = kie.running_instances_message("c", [4, 7], more=False)
        assert "2 active process instance(s) (4, 7)" in message
        many = kie.running_instances_message("c", list(range(1, 102)), more=True)
        assert "101+ active" in many and "and more" in many


def service(type_: str, msg: str) -> bytes:
    return json.dumps({"type": type_, "msg": msg, "result": None}).encode()


class TestClassifyKie:
    def test_a_missing_kjar(self) -> None:
        said = (
            "Failed to create container c with module g:a:1: java.lang.RuntimeException: "
            "Cannot find KieModule: g:a:1"
        )
        error = classify_kie("PUT /containers/c", 400, service("FAILURE", said))
        assert isinstance(error, MissingKjar) and not error.temporary
        assert error.message.endswith(said)

    def test_a_kjar_that_does_not_build_is_refused(self) -> None:
        error = classify_kie("PUT /containers/c", 400, service("FAILURE", "Error while creating"))
        assert type(error) is EngineRefused

    @pytest.mark.parametrize(
        ("status", "raw"),
        [
            (200, service("FAILURE", "Container c is not instantiated.")),
            (500, b"\"Unexpected error: Container 'c' is not instantiated or cannot find\""),
            (404, b""),
        ],
    )
    def test_an_unknown_container(self, status: int, raw: bytes) -> None:
        assert isinstance(classify_kie("GET /containers/c", status, raw), EngineNotFound)

    @pytest.mark.parametrize("status", [401, 403])
    def test_credentials(self, status: int) -> None:
        error = classify_kie("GET /", status, b'{"status":401,"error":"Unauthorized"}')
        assert isinstance(error, EngineUnauthorized)
        assert "kie-server role" in error.message

    @pytest.mark.parametrize("status", [502, 503, 504, 500])
    def test_unavailable(self, status: int) -> None:
        assert isinstance(classify_kie("GET /", status, b""), EngineUnavailable)


class TestSpec:
    def test_exactly_one_kind(self) -> None:
        kie_server = {"url": "http://kie:8080/rest/server"}
        camunda = {"url": "http://camunda:8080/engine-rest"}
        assert (
            ProcessEngineSpec.model_validate({"kieServer": kie_server}).endpoint.url
            == (kie_server["url"])
        )
        for wrong in ({}, {"kieServer": kie_server, "camunda7": camunda}):
            with pytest.raises(ValidationError, match="exactly one of camunda7 and kieServer"):
                ProcessEngineSpec.model_validate(wrong)

    def test_ready_names_the_server_and_its_capabilities(self) -> None:
        seen = EngineObservation(
            version="7.74.1.Final", product="KIE Server", capabilities=("KieServer", "BPM")
        )
        status = engine_status(None, seen, "http://kie/rest/server", 0, 0, 1, now())
        [ready] = [c for c in status.conditions if c.type == "Ready"]
        assert ready.status == "True"
        assert ready.message == (
            "KIE Server 7.74.1.Final answers at http://kie/rest/server "
            "(capabilities: KieServer, BPM)."
        )


def test_the_servers_report_of_a_process_is_what_the_unit_shows() -> None:
    parsed = Definition(
        kind="process", id="p:1:u", key="p", version=3, resource="p.bpmn2", name="Parsed"
    )
    reported = EngineDefinition(
        kind="process",
        id="p",
        key="p",
        resource="kjar-1.jar",
        name="Reported",
        package_name="org.acme",
        model_version="2.0",
        variables=[ProcessVariable(name="amount", type="java.lang.Integer")],
    )
    [merged] = decide.engine_definitions([parsed], [reported])
    assert (merged.id, merged.version, merged.resource) == ("p", 3, "p.bpmn2")
    assert (merged.name, merged.package_name, merged.model_version) == (
        "Reported",
        "org.acme",
        "2.0",
    )
    assert merged.variables == [ProcessVariable(name="amount", type="java.lang.Integer")]
    [alone] = decide.engine_definitions([], [reported])
    assert (alone.version, alone.resource, alone.name) == (1, "kjar-1.jar", "Reported")
