"""The engines gateway against a real Camunda 7.24 engine (basic auth on), as the operator uses it.

Covered: the version; creating deployments of BPMN, DMN (with a requirements graph) and CMMN
with their definitions, names, tenant and activation time; the engine's stored bytes equal the
sent ones; the engine's refusals (schema-invalid BPMN with line and column, malformed XML, a
delete blocked by a running instance) and the delete with cascade; the look-up of a push by its
source; and the failures the reconciler tells apart: wrong or no credentials (unauthorized, the
secret never shown), nothing listening or an engine that does not answer (unavailable).
"""

from __future__ import annotations

import socket
import traceback
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from pydantic import SecretStr

from deployunits.engines import (
    BasicAuth,
    BearerToken,
    Camunda7Client,
    EngineError,
    EngineNotFound,
    EngineRefused,
    EngineUnauthorized,
    EngineUnavailable,
    NewDeployment,
    NewResource,
)
from devcluster.plane import free_port
from tests.support.cluster import unique_name
from tests.support.engine import RunningEngine, call, user_task_process

SAMPLES = Path(__file__).resolve().parents[1] / "unit" / "samples"
T = TypeVar("T")


def push(engine: RunningEngine, *resources: tuple[str, bytes], **fields: Any) -> Any:
    deployment = NewDeployment(
        name=fields.pop("name", unique_name("unit")),
        resources=tuple(NewResource(name=n, content=c) for n, c in resources),
        **fields,
    )
    return call(engine.connection(), lambda client: client.create_deployment(deployment))


def refusal(engine: RunningEngine, *resources: tuple[str, bytes]) -> EngineRefused:
    with pytest.raises(EngineRefused) as raised:
        push(engine, *resources)
    return raised.value


class TestVersion:
    def test_the_engine_reports_its_version(self, camunda7: RunningEngine) -> None:
        assert call(camunda7.connection(), lambda client: client.version()) == "7.24.0"

    def test_a_named_engine_is_reached_under_its_name(self, camunda7: RunningEngine) -> None:
        named = camunda7.connection(engine_name="default")
        assert isinstance(call(named, lambda client: client.deployments()), list)
        unknown = camunda7.connection(engine_name="no-such-engine")
        with pytest.raises(EngineRefused, match="no-such-engine") as raised:
            call(unknown, lambda client: client.deployments())
        # Not a missing deployment: the engine itself is missing, which no look-up may hide.
        assert not isinstance(raised.value, EngineNotFound)
        with pytest.raises(EngineRefused, match="no-such-engine"):
            call(unknown, lambda client: client.deployment("any"))


class TestCreate:
    def test_bpmn_deployment_answers_with_its_process_definitions(
        self, camunda7: RunningEngine
    ) -> None:
        source = unique_name("deployunits:uid")
        content = (SAMPLES / "invoice.bpmn").read_bytes()
        created = push(camunda7, ("invoice.bpmn", content), name="invoice", source=source)
        assert (created.name, created.source, created.tenant_id) == ("invoice", source, None)
        processes = created.deployed_process_definitions
        assert processes is not None
        assert {d.key for d in processes.values()} >= {"invoice"}
        invoice = next(d for d in processes.values() if d.key == "invoice")
        assert (invoice.resource, invoice.version_tag) == ("invoice.bpmn", "V1.0")
        listed = call(camunda7.connection(), lambda c: c.definitions(created.id))
        assert {d.id for d in listed.processes} == set(processes)
        assert (listed.decisions, listed.cases) == ((), ())

    def test_dmn_deployment_defines_decisions_and_their_requirements_graph(
        self, camunda7: RunningEngine
    ) -> None:
        created = push(camunda7, ("dish.dmn", (SAMPLES / "dish.dmn").read_bytes()))
        assert created.deployed_decision_definitions is not None
        assert created.deployed_process_definitions is None
        listed = call(camunda7.connection(), lambda c: c.definitions(created.id))
        assert {d.key for d in listed.decisions} >= {"dish"}
        [graph] = listed.decision_requirements
        assert graph.key == "dinnerDecisions"
        dish = next(d for d in listed.decisions if d.key == "dish")
        assert dish.decision_requirements_definition_key == "dinnerDecisions"
        assert dish.resource == "dish.dmn"

    def test_cmmn_deployment_defines_a_case(self, camunda7: RunningEngine) -> None:
        created = push(camunda7, ("claim.cmmn", (SAMPLES / "claim.cmmn").read_bytes()))
        listed = call(camunda7.connection(), lambda c: c.definitions(created.id))
        assert [d.key for d in listed.cases] == ["claimHandling"]

    def test_the_engine_stores_every_resource_byte_for_byte_under_its_name(
        self, camunda7: RunningEngine
    ) -> None:
        sent = {
            "processes/invoice.bpmn": (SAMPLES / "invoice.bpmn").read_bytes(),
            "dish.dmn": (SAMPLES / "dish.dmn").read_bytes(),
            "forms/approve form ä.form": '{"components": ["ä"]}'.encode(),
            "docs/binary.bin": bytes(range(256)) * 64,
        }
        created = push(camunda7, *sent.items())

        async def read_all(client: Camunda7Client) -> dict[str, bytes]:
            resources = await client.resources(created.id)
            return {r.name: await client.resource_data(created.id, r.id) for r in resources}

        assert call(camunda7.connection(), read_all) == sent

    def test_tenant_and_activation_time_reach_the_engine(self, camunda7: RunningEngine) -> None:
        key = unique_name("later").replace("-", "_")
        created = push(
            camunda7,
            ("later.bpmn", user_task_process(key)),
            tenant_id="acme",
            activation_time=datetime.now(UTC) + timedelta(days=1),
        )
        assert created.tenant_id == "acme"
        [definition] = call(camunda7.connection(), lambda c: c.process_definitions(created.id))
        # Definitions wait suspended for their activation time (the create answer itself still
        # shows them active: the engine suspends them after writing it).
        assert (definition.tenant_id, definition.suspended) == ("acme", True)


class TestRefusals:
    def test_schema_invalid_bpmn_is_refused_with_the_engines_locations(
        self, camunda7: RunningEngine
    ) -> None:
        broken = user_task_process("broken").replace(
            b'<endEvent id="end"/>', b'<endEvent id="end"><startEvent id="inner"/></endEvent>'
        )
        broken = broken.replace(b'targetRef="end"', b'targetRef="nowhere"')
        refused = refusal(camunda7, ("broken.bpmn", broken))
        assert (refused.status, refused.engine_type) == (400, "ParseException")
        assert not refused.temporary
        assert {p.resource for p in refused.problems} == {"broken.bpmn"}
        # The schema error sits where the misplaced element's start tag ends.
        [line] = [n for n, text in enumerate(broken.decode().splitlines(), 1) if "inner" in text]
        column = broken.decode().splitlines()[line - 1].index('id="inner"/>') + len('id="inner"/>')
        schema = next(p for p in refused.problems if "cvc-complex-type" in p.message)
        assert (schema.line, schema.column) == (line, column + 1)
        flow = next(p for p in refused.problems if "nowhere" in p.message and p.main_element_id)
        assert (flow.main_element_id, flow.element_ids) == ("toEnd", ("toEnd",))
        assert f"line {line} | column {column + 1}" in refused.message

    def test_every_problem_of_a_long_refusal_is_kept(self, camunda7: RunningEngine) -> None:
        flows = "".join(
            f'<sequenceFlow id="f{i}" sourceRef="start" targetRef="missing{i}"/>'
            for i in range(300)
        )
        broken = user_task_process("many").replace(
            b'<endEvent id="end"/>', b'<endEvent id="end"/>' + flows.encode()
        )
        refused = refusal(camunda7, ("many.bpmn", broken))
        assert refused.engine_type == "ParseException"
        flagged = {
            p.main_element_id for p in refused.problems if "Invalid destination" in p.message
        }
        assert flagged == {f"f{i}" for i in range(300)}

    def test_malformed_xml_is_refused_with_the_engines_exception(
        self, camunda7: RunningEngine
    ) -> None:
        refused = refusal(camunda7, ("cut.bpmn", b"<definitions><process"))
        assert (refused.status, refused.engine_type) == (500, "ProcessEngineException")
        assert not refused.temporary
        assert "ENGINE-09003" in refused.message
        assert "cut.bpmn" in refused.message

    def test_delete_with_a_running_instance_needs_cascade(self, camunda7: RunningEngine) -> None:
        key = unique_name("waiting").replace("-", "_")
        created = push(camunda7, ("waiting.bpmn", user_task_process(key)))
        instance = call(camunda7.connection(), lambda c: c.start_process_instance(key))
        assert not instance.ended

        with pytest.raises(EngineRefused) as raised:
            call(camunda7.connection(), lambda c: c.delete_deployment(created.id, cascade=False))
        assert raised.value.status == 500
        assert "ENGINE-03076" in raised.value.message
        assert call(camunda7.connection(), lambda c: c.deployment(created.id)) is not None

        assert call(camunda7.connection(), lambda c: c.delete_deployment(created.id, cascade=True))
        assert call(camunda7.connection(), lambda c: c.deployment(created.id)) is None
        # Deleting what is gone is not a failure: the caller learns it was already gone.
        gone = call(camunda7.connection(), lambda c: c.delete_deployment(created.id, cascade=True))
        assert gone is False

    def test_unknown_deployment_is_not_found(self, camunda7: RunningEngine) -> None:
        assert call(camunda7.connection(), lambda c: c.deployment("no-such-id")) is None
        with pytest.raises(EngineNotFound):
            call(camunda7.connection(), lambda c: c.resources("no-such-id"))

    def test_an_id_that_is_not_one_path_segment_never_reaches_the_engine(
        self, camunda7: RunningEngine
    ) -> None:
        with pytest.raises(EngineRefused, match="not a valid path segment"):
            call(camunda7.connection(), lambda c: c.deployment("../version"))


class TestLookup:
    def test_a_push_is_found_again_by_its_source(self, camunda7: RunningEngine) -> None:
        name = unique_name("unit")
        first, second = unique_name("uid-job1"), unique_name("uid-job2")
        pushed = [
            push(
                camunda7,
                ("a.bpmn", user_task_process(unique_name("a").replace("-", "_"))),
                name=name,
                source=source,
            )
            for source in (first, second)
        ]
        found = call(camunda7.connection(), lambda c: c.deployments(source=first))
        assert [d.id for d in found] == [pushed[0].id]
        by_name = call(camunda7.connection(), lambda c: c.deployments(name=name))
        assert [d.id for d in by_name] == [d.id for d in pushed]
        page = call(
            camunda7.connection(),
            lambda c: c.deployments(name=name, first_result=1, max_results=5),
        )
        assert [d.id for d in page] == [pushed[1].id]
        assert call(camunda7.connection(), lambda c: c.deployments(source=unique_name("x"))) == []

    def test_tenant_filters_separate_tenants(self, camunda7: RunningEngine) -> None:
        name = unique_name("unit")
        key = unique_name("t").replace("-", "_")
        ours = push(camunda7, ("t.bpmn", user_task_process(key)), name=name, tenant_id="t1")
        push(camunda7, ("t.bpmn", user_task_process(key)), name=name)
        tenant = call(camunda7.connection(), lambda c: c.deployments(name=name, tenant_id="t1"))
        assert [d.id for d in tenant] == [ours.id]
        shared = call(
            camunda7.connection(), lambda c: c.deployments(name=name, without_tenant=True)
        )
        assert [d.tenant_id for d in shared] == [None]


def _shown(error: BaseException) -> str:
    return str(error) + repr(error) + "".join(traceback.format_exception(error))


class TestFailures:
    def test_wrong_password_is_unauthorized_and_never_shown(self, camunda7: RunningEngine) -> None:
        wrong = "not-" + camunda7.credentials.password
        connection = camunda7.connection(
            credentials=BasicAuth(username=camunda7.credentials.username, password=SecretStr(wrong))
        )
        with pytest.raises(EngineUnauthorized) as raised:
            call(connection, lambda c: c.version())
        assert raised.value.status == 401
        assert not raised.value.temporary
        for secret in (wrong, camunda7.credentials.password):
            assert secret not in _shown(raised.value)
            assert secret not in repr(connection) + str(connection)

    def test_missing_credentials_and_foreign_token_are_unauthorized(
        self, camunda7: RunningEngine
    ) -> None:
        token = "token-" + camunda7.credentials.password
        for connection in (
            camunda7.connection(credentials=None),
            camunda7.connection(credentials=BearerToken(token=SecretStr(token))),
        ):
            with pytest.raises(EngineUnauthorized) as raised:
                call(connection, lambda c: c.deployments())
            assert token not in _shown(raised.value)

    def test_nothing_listening_is_unavailable(self, camunda7: RunningEngine) -> None:
        # What a stopped engine looks like from the client: the port refuses connections.
        stopped = camunda7.connection(url=f"http://127.0.0.1:{free_port()}/engine-rest")
        with pytest.raises(EngineUnavailable) as raised:
            call(stopped, lambda c: c.version())
        assert raised.value.temporary
        assert "cannot reach the engine" in raised.value.message
        assert camunda7.credentials.password not in _shown(raised.value)

    def test_an_engine_that_does_not_answer_is_unavailable_after_the_timeout(
        self, camunda7: RunningEngine
    ) -> None:
        with socket.socket() as silent:
            silent.bind(("127.0.0.1", 0))
            silent.listen()
            port = silent.getsockname()[1]
            hung = camunda7.connection(
                url=f"http://127.0.0.1:{port}/engine-rest", request_timeout=1.0
            )
            with pytest.raises(EngineUnavailable, match="did not answer within 1 s"):
                call(hung, lambda c: c.version())

    def test_every_failure_is_an_engine_error(self, camunda7: RunningEngine) -> None:
        # The reconciler catches EngineError and asks `temporary`; nothing else escapes.
        stopped = camunda7.connection(url=f"http://127.0.0.1:{free_port()}/engine-rest")
        with pytest.raises(EngineError):
            call(stopped, lambda c: c.deployments())
