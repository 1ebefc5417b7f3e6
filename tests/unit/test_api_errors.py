"""Failures of the API server as both dialects answer them: "retry later" answers are 503s.

A restarting API server answers 503 ("the request has been made before all known HTTP paths have
been installed") and 429 ("storage is (re)initializing") before it serves every kind again; the
shim passes that on as 503 with Retry-After in each dialect's shape, not as a 500.
"""

import asyncio
import json

import httpx
import pytest
from defusedxml import ElementTree
from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Counter

from deployunits.api.app import _install_error_handlers
from deployunits.api.jbpm.errors import from_exception
from deployunits.k8s.errors import ApiError

RETRY_LATER = [
    (503, "the request has been made before all known HTTP paths have been installed"),
    (429, "storage is (re)initializing"),
    (504, "Timeout: request did not complete within requested timeout"),
]


def api_error(status: int, message: str) -> ApiError:
    body = {"kind": "Status", "status": "Failure", "message": message, "code": status}
    return ApiError(status, body, "POST", "/apis/bpm.deployunits.io/v1alpha1/deploymentunits")


def camunda_answer(error: ApiError) -> tuple[int, dict[str, str], dict[str, object]]:
    app = FastAPI()
    registry = CollectorRegistry()
    _install_error_handlers(app, Counter("errors", "errors", ["status"], registry=registry))

    @app.post("/engine-rest/deployment/create")
    async def create() -> None:
        raise error

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://shim") as client:
            return await client.post("/engine-rest/deployment/create")

    response = asyncio.run(call())
    return response.status_code, dict(response.headers), json.loads(response.text)


@pytest.mark.parametrize(("status", "message"), RETRY_LATER)
def test_camunda_answers_a_retry_later_of_the_api_server_with_503(
    status: int, message: str
) -> None:
    code, headers, body = camunda_answer(api_error(status, message))
    assert code == 503
    assert headers["retry-after"] == "5"
    assert body["type"] == "ProcessEngineException"
    assert "unavailable" in str(body["message"])


def test_camunda_answers_a_refusal_of_the_api_server_with_500() -> None:
    code, headers, body = camunda_answer(api_error(403, "forbidden"))
    assert code == 500
    assert "retry-after" not in headers
    assert "forbidden" in str(body["message"])


@pytest.mark.parametrize(("status", "message"), RETRY_LATER)
def test_jbpm_answers_a_retry_later_of_the_api_server_with_503(status: int, message: str) -> None:
    response = from_exception(api_error(status, message)).response("http://shim/deploy")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    root = ElementTree.fromstring(bytes(response.body))
    fields = {child.tag: child.text for child in root}
    assert root.tag == "exception"
    assert fields["status"] == "FAILURE"
    assert "unavailable" in (fields["message"] or "")


def test_jbpm_answers_a_refusal_of_the_api_server_with_500() -> None:
    response = from_exception(api_error(422, "invalid")).response("http://shim/deploy")
    assert response.status_code == 500
    assert "retry-after" not in response.headers
