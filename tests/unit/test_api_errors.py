"""Failures of the API server as both dialects answer them: "retry later" answers are 503s.

A restarting API server answers 503 ("the request has been made before all known HTTP paths have
been installed") and 429 ("storage is (re)initializing") before it serves every kind again; the
shim passes that on as 503 with Retry-After in each dialect's shape, not as a 500. The
application's handlers pick the dialect by the path's prefix, for both dialects alike.
"""

import asyncio
import json

import httpx
import pytest
from defusedxml import ElementTree
from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Counter

from deployunits.api.app import _install_error_handlers
from deployunits.api.auth import Access, Caller, Decision, Verdict
from deployunits.api.cache import CacheNotReady
from deployunits.api.errors import Kind, Refused, failure_of
from deployunits.api.jbpm.errors import from_exception
from deployunits.k8s.errors import ApiError, ApiUnavailable

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


def answer(path: str, error: Exception) -> httpx.Response:
    """The answer of the application's handlers when a route at `path` raises `error`."""
    app = FastAPI()
    registry = CollectorRegistry()
    _install_error_handlers(app, Counter("errors", "errors", ["status"], registry=registry))

    @app.post(path)
    async def route() -> None:
        raise error

    async def call() -> httpx.Response:
        # A bug is answered by the outermost handler, which raises it again for the server.
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://shim") as client:
            return await client.post(path)

    return asyncio.run(call())


JBPM_DEPLOY = "/business-central/rest/deployment/g:a:1/deploy"
CAMUNDA_CREATE = "/engine-rest/deployment/create"
ALICE = Decision(Verdict.FORBIDDEN, Access(namespace="ns", verb="create"), Caller("alice"))
NOBODY = Decision(Verdict.UNAUTHENTICATED, Access(namespace="ns", verb="create"), reason="no")


def jbpm_fields(response: httpx.Response) -> dict[str, str | None]:
    root = ElementTree.fromstring(response.content)
    assert root.tag == "exception"
    return {child.tag: child.text for child in root}


@pytest.mark.parametrize(
    ("error", "status", "retry_after", "request_status"),
    [
        (api_error(503, "starting"), 503, "5", "FAILURE"),
        (ApiUnavailable("connection refused"), 503, "5", "FAILURE"),
        (CacheNotReady("not in sync"), 503, "5", "FAILURE"),
        (TimeoutError(), 503, "5", "FAILURE"),
        (api_error(409, "conflict"), 500, None, "FAILURE"),
        (Refused(ALICE), 403, None, "FORBIDDEN"),
        (KeyError("bug"), 500, None, "FAILURE"),
    ],
)
def test_the_app_answers_jbpm_paths_in_the_jbpm_shape(
    error: Exception, status: int, retry_after: str | None, request_status: str
) -> None:
    response = answer(JBPM_DEPLOY, error)
    assert response.status_code == status
    assert response.headers.get("retry-after") == retry_after
    assert response.headers["content-type"] == "application/xml"
    fields = jbpm_fields(response)
    assert fields["status"] == request_status
    assert fields["url"] == f"http://shim{JBPM_DEPLOY}"
    assert "Traceback" not in response.text


def test_jbpm_refusals_challenge_in_the_jbpm_realm() -> None:
    response = answer(JBPM_DEPLOY, Refused(NOBODY))
    assert response.status_code == 401
    assert response.headers["www-authenticate"].endswith('Basic realm="business-central"')
    assert "Unauthorized: no" in (jbpm_fields(response)["message"] or "")


@pytest.mark.parametrize(
    ("error", "status", "type_"),
    [
        (CacheNotReady("not in sync"), 503, "ProcessEngineException"),
        (TimeoutError(), 503, "ProcessEngineException"),
        (Refused(ALICE), 403, "AuthorizationException"),
        (Refused(NOBODY), 401, "AuthenticationException"),
        (KeyError("bug"), 500, "ProcessEngineException"),
    ],
)
def test_the_app_answers_camunda_paths_in_the_camunda_shape(
    error: Exception, status: int, type_: str
) -> None:
    response = answer(CAMUNDA_CREATE, error)
    assert response.status_code == status
    assert response.json()["type"] == type_


def test_other_paths_get_a_plain_message() -> None:
    response = answer("/elsewhere", ApiUnavailable("down"))
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert response.json() == {"message": "The Kubernetes API server is unavailable; retry later."}
    assert answer("/elsewhere", KeyError("bug")).json() == {"message": "unexpected error"}


def test_the_shared_mapping_tells_retry_later_from_refusals() -> None:
    assert failure_of(api_error(429, "busy")) == failure_of(ApiUnavailable("down"))
    assert failure_of(api_error(429, "busy")).headers == {"Retry-After": "5"}
    refused = failure_of(api_error(422, "invalid"))
    assert (refused.kind, refused.status, refused.headers) == (Kind.REFUSED, 500, {})
    assert failure_of(KeyError("x")).message == "Unexpected error: KeyError"
