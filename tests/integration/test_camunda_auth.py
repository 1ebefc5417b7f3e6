"""Auth mode `kubernetes` over real HTTP: TokenReview and SubjectAccessReview per request.

Matrix: no token 401; a token the API server does not accept 401; a ServiceAccount without rights
403 (AuthorizationException body) on reads and writes; a reader that may not create 403; a
deployer with a Role allowed everything, by Bearer and by Basic with the token as password; the
deployer refused in another namespace; a new RoleBinding takes effect after the short deny cache.
"""

import time
from collections.abc import Callable

import httpx
import pytest

from devcluster.processes import ShimProcess
from tests.support import rbac
from tests.support.cluster import Cluster, unique_name

BPMN = (
    b'<?xml version="1.0"?><definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    b'targetNamespace="http://x"><process id="auth" isExecutable="true"/></definitions>'
)
ACCOUNTS: dict[str, rbac.Rights] = {
    "deployer": {"deploymentunits": ["get", "list", "create", "delete"], "redeploys": ["create"]},
    "reader": {"deploymentunits": ["get", "list"]},
    "nobody": {},
}


@pytest.fixture(scope="module")
def shim(start_shim: Callable[..., ShimProcess]) -> ShimProcess:
    # The shim's own identity (admin here) needs create on tokenreviews and
    # subjectaccessreviews (system:auth-delegator in a real cluster).
    return start_shim(auth_mode="kubernetes", env={"DEPLOYUNITS_AUTH_CACHE_SECONDS": "2"})


@pytest.fixture
def tokens(cluster: Cluster, namespace: str) -> dict[str, str]:
    return rbac.accounts(cluster, namespace, ACCOUNTS)


def client(shim: ShimProcess, namespace: str, token: str | None) -> httpx.Client:
    return httpx.Client(base_url=shim.engine(namespace), headers=rbac.bearer(token), timeout=60)


def upload(api: httpx.Client) -> httpx.Response:
    return api.post("/deployment/create", files={"a": ("auth.bpmn", BPMN)})


def test_no_token_and_a_bad_token_are_401(shim: ShimProcess, namespace: str) -> None:
    for token in (None, "not-a-token"):
        with client(shim, namespace, token) as api:
            for response in (api.get("/deployment"), upload(api)):
                assert response.status_code == 401, response.text
                assert response.headers["www-authenticate"].startswith("Bearer")
                assert set(response.json()) >= {"type", "message", "code"}


def test_a_caller_without_rights_is_403(
    shim: ShimProcess, namespace: str, tokens: dict[str, str]
) -> None:
    with client(shim, namespace, tokens["nobody"]) as api:
        listed = api.get("/deployment")
        assert listed.status_code == 403
        body = listed.json()
        user = f"system:serviceaccount:{namespace}:nobody"
        assert body == {
            "type": "AuthorizationException",
            "message": f"The user with id '{user}' does not have 'READ' permission on resource "
            "'Deployment'.",
            "code": 0,
            "userId": user,
            "resourceName": "Deployment",
            "resourceId": None,
            "permissionName": "READ",
            "missingAuthorizations": [
                {"permissionName": "READ", "resourceName": "Deployment", "resourceId": None}
            ],
        }
        created = upload(api)
        assert created.status_code == 403
        assert created.json()["permissionName"] == "CREATE"


def test_a_reader_reads_but_may_not_write(
    shim: ShimProcess, namespace: str, tokens: dict[str, str]
) -> None:
    with client(shim, namespace, tokens["deployer"]) as deployer:
        made = upload(deployer)
        assert made.status_code == 200, made.text
        deployment_id = made.json()["id"]
    with client(shim, namespace, tokens["reader"]) as reader:
        assert reader.get("/deployment").status_code == 200
        assert reader.get(f"/deployment/{deployment_id}").status_code == 200
        assert reader.get(f"/deployment/{deployment_id}/resources").status_code == 200
        assert upload(reader).status_code == 403
        redeploy = reader.post(f"/deployment/{deployment_id}/redeploy")
        assert redeploy.status_code == 403
        assert redeploy.json()["permissionName"] == "CREATE"
        delete = reader.delete(f"/deployment/{deployment_id}")
        assert delete.status_code == 403
        assert delete.json()["permissionName"] == "DELETE"


def test_a_deployer_may_do_everything_by_bearer_or_basic(
    shim: ShimProcess, namespace: str, tokens: dict[str, str]
) -> None:
    with httpx.Client(
        base_url=shim.engine(namespace),
        headers=rbac.basic("anyone", tokens["deployer"]),
        timeout=60,
    ) as api:
        made = upload(api)
        assert made.status_code == 200, made.text
        deployment_id = made.json()["id"]
        assert api.get("/deployment/count").json() == {"count": 1}
        redeployed = api.post(f"/deployment/{deployment_id}/redeploy")
        assert redeployed.status_code == 200, redeployed.text
        assert api.delete(f"/deployment/{deployment_id}").status_code == 204


def test_rights_in_one_namespace_are_not_rights_in_another(
    shim: ShimProcess, cluster: Cluster, namespace: str, tokens: dict[str, str]
) -> None:
    other = unique_name("t")
    cluster.kubectl("create", "namespace", other)
    try:
        with client(shim, other, tokens["deployer"]) as api:
            assert api.get("/deployment").status_code == 403
            assert upload(api).status_code == 403
    finally:
        cluster.kubectl("delete", "namespace", other, "--wait=false")


def test_a_new_binding_acts_after_the_deny_cache(
    shim: ShimProcess, cluster: Cluster, namespace: str, tokens: dict[str, str]
) -> None:
    with client(shim, namespace, tokens["nobody"]) as api:
        assert api.get("/deployment").status_code == 403
        cluster.kubectl(
            "create",
            "rolebinding",
            "nobody-reads",
            "--role=reader",
            f"--serviceaccount={namespace}:nobody",
            "-n",
            namespace,
        )
        deadline = time.monotonic() + 30
        while api.get("/deployment").status_code != 200:
            assert time.monotonic() < deadline, "the new RoleBinding never took effect"
            time.sleep(0.5)


@pytest.mark.parametrize("engine", ["no-such-namespace", "Not_A_Namespace"])
def test_an_unknown_named_engine_is_the_engines_404_before_credentials(
    shim: ShimProcess, engine: str
) -> None:
    # Camunda 7.24's authentication filter answers this for every path under the engine.
    expected = {
        "type": "InvalidRequestException",
        "message": f"Process engine {engine} not available",
        "code": None,
    }
    with client(shim, engine, None) as api:
        for response in (
            api.get("/deployment/count"),
            api.get("/deployment/some-id/resources"),
            api.get("/nothing-here"),
            api.put("/deployment/count"),
            upload(api),
        ):
            assert (response.status_code, response.json()) == (404, expected), response.request
