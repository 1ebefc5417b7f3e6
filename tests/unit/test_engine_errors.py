"""How the engines gateway reads an engine's failure, and what it refuses to send.

Matrix of classify(): 401/403 unauthorized; 429/502/503/504 and 500s without an engine exception
or with a transient engine code unavailable (temporary); other 4xx and 500s with an engine
exception refused (permanent), 404 as not found, an unknown named engine as refused; the
ParseException details with both spellings of `elementIds`. Then the engine's time format and
resource names that would break the multipart header.
"""

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from deployunits.engines import (
    EngineNotFound,
    EngineRefused,
    EngineUnauthorized,
    EngineUnavailable,
    classify,
)
from deployunits.engines.camunda7 import NewResource, engine_time


def body(type_: str | None, message: str, code: int | None = 0, **extra: object) -> bytes:
    return json.dumps({"type": type_, "message": message, "code": code, **extra}).encode()


class TestClassify:
    @pytest.mark.parametrize("status", [401, 403])
    def test_rejected_credentials_are_unauthorized(self, status: int) -> None:
        error = classify("GET /version", status, b"")
        assert isinstance(error, EngineUnauthorized)
        assert (error.status, error.temporary) == (status, False)
        assert "check the credentials" in error.message

    def test_a_403_keeps_the_engines_authorization_message(self) -> None:
        said = body("AuthorizationException", "The user with id 'ops' does not have 'CREATE'")
        error = classify("POST /deployment/create", 403, said)
        assert isinstance(error, EngineUnauthorized)
        assert "does not have 'CREATE'" in error.message

    @pytest.mark.parametrize("status", [429, 502, 503, 504])
    def test_gateway_and_overload_answers_are_temporary(self, status: int) -> None:
        error = classify("GET /deployment", status, b"<html>Bad Gateway</html>")
        assert isinstance(error, EngineUnavailable)
        assert error.temporary

    def test_a_500_without_an_engine_exception_is_temporary(self) -> None:
        error = classify("GET /deployment", 500, b"<html>Internal Server Error</html>")
        assert isinstance(error, EngineUnavailable)
        assert "no engine exception" in error.message

    @pytest.mark.parametrize(("code", "why"), [(1, "optimistic locking"), (10000, "deadlock")])
    def test_transient_engine_codes_are_temporary(self, code: int, why: str) -> None:
        said = body("OptimisticLockingException", "ENGINE-03005 Execution of ...", code)
        error = classify("POST /deployment/create", 500, said)
        assert isinstance(error, EngineUnavailable)
        assert why in error.message

    def test_an_engine_without_a_database_connection_is_temporary(self) -> None:
        # Seen from the real engine under load: its connection pool had none to give.
        said = body(
            "CannotCreateTransactionException",
            "Could not open JDBC Connection for transaction",
        )
        error = classify("POST /deployment/create", 500, said)
        assert isinstance(error, EngineUnavailable)
        assert "no database connection" in error.message

    def test_a_500_with_an_engine_exception_is_the_engines_refusal(self) -> None:
        said = body("ProcessEngineException", "ENGINE-03076 Deletion of process definition ...")
        error = classify("DELETE /deployment/d1", 500, said)
        assert type(error) is EngineRefused
        assert (error.status, error.engine_type, error.temporary) == (
            500,
            "ProcessEngineException",
            False,
        )
        assert error.message == (
            "DELETE /deployment/d1: the engine refused (500): ProcessEngineException: "
            "ENGINE-03076 Deletion of process definition ..."
        )

    def test_a_404_is_not_found(self) -> None:
        said = body("InvalidRequestException", "Deployment with id 'x' does not exist", None)
        assert isinstance(classify("GET /deployment/x", 404, said), EngineNotFound)

    @pytest.mark.parametrize(
        ("status", "message"),
        [
            (400, "No process engine available"),
            (404, "Process engine nope not available"),
        ],
    )
    def test_an_unknown_named_engine_is_a_refusal_not_a_missing_deployment(
        self, status: int, message: str
    ) -> None:
        error = classify("GET /deployment/x", status, body("InvalidRequestException", message))
        assert type(error) is EngineRefused
        assert "no process engine of that name" in error.message

    @pytest.mark.parametrize("key", ["\u0435lementIds", "elementIds"])
    def test_parse_exception_details_become_problems(self, key: str) -> None:
        said = body(
            "ParseException",
            "ENGINE-09005 Could not parse BPMN process. Errors: \n* ...",
            details={
                "a.bpmn": {
                    "errors": [
                        {
                            "message": "Invalid destination 'x' of sequence flow 'f1'",
                            "line": 5,
                            "column": 62,
                            "mainElementId": "f1",
                            key: ["f1"],
                        }
                    ],
                    "warnings": [{"message": "only a warning", "line": 1, "column": 1}],
                }
            },
        )
        error = classify("POST /deployment/create", 400, said)
        assert isinstance(error, EngineRefused)
        [problem] = error.problems
        assert (problem.resource, problem.line, problem.column) == ("a.bpmn", 5, 62)
        assert (problem.main_element_id, problem.element_ids) == ("f1", ("f1",))
        assert str(problem) == (
            "a.bpmn, line 5, column 62, element f1: Invalid destination 'x' of sequence flow 'f1'"
        )

    def test_a_long_answer_is_cut(self) -> None:
        error = classify("GET /deployment", 400, body("BadUserRequestException", "x" * 100_000))
        assert len(error.message) < 5000

    @pytest.mark.parametrize("raw", [b"", b"[]", b"not json", b'{"type": 3}'])
    def test_odd_bodies_still_classify_by_status(self, raw: bytes) -> None:
        assert isinstance(classify("GET /deployment", 400, raw), EngineRefused)
        assert isinstance(classify("GET /deployment", 500, raw), EngineUnavailable)


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (datetime(2026, 12, 4, 17, 5, 9, 123456, tzinfo=UTC), "2026-12-04T17:05:09.123+0000"),
        (
            datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2))),
            "2026-01-02T03:04:05.000+0200",
        ),
        (datetime(2026, 1, 2, 3, 4, 5), "2026-01-02T03:04:05.000+0000"),
    ],
)
def test_times_are_written_in_the_engines_format(moment: datetime, text: str) -> None:
    assert engine_time(moment) == text


@pytest.mark.parametrize("name", ["a\r\nContent-Type: text/html.bpmn", "a\x00.bpmn", ""])
def test_resource_names_that_would_break_the_multipart_header_are_refused(name: str) -> None:
    with pytest.raises(ValidationError):
        NewResource(name=name, content=b"x")
    assert NewResource(name="forms/approve form \u00e4.form", content=b"x").name.endswith(".form")
