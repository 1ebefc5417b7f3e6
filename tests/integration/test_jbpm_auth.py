"""Auth mode `kubernetes` for the jBPM dialect (the shared TokenReview / SubjectAccessReview code).

Matrix: no token and a token the API server refuses are 401 with an XML body and a challenge; a
ServiceAccount without rights is 403 on reads, deploys and undeploys; a reader may read but not
deploy (create) or undeploy (patch); a deployer may create but not patch; an operator with both
deploys and undeploys, by Bearer and by Basic with the token as password.
"""

from collections.abc import Callable

import httpx
import pytest

from devcluster.processes import ShimProcess, wait_for
from tests.support import jbpm, rbac
from tests.support.cluster import Cluster

ACCOUNTS: dict[str, rbac.Rights] = {
    "reader": {"deploymentunits": ["get", "list"]},
    "creator": {"deploymentunits": ["get", "list", "create"]},
    "manager": {"deploymentunits": ["get", "list", "create", "patch"]},
    "nobody": {"deploymentunits": ["watch"]},
}


@pytest.fixture(scope="module")
def shim(space: str, start_shim: Callable[..., ShimProcess]) -> ShimProcess:
    return start_shim(
        namespace=space,
        auth_mode="kubernetes",
        env={"DEPLOYUNITS_AUTH_CACHE_SECONDS": "2"},
    )


@pytest.fixture(scope="module")
def tokens(cluster: Cluster, space: str) -> dict[str, str]:
    return rbac.accounts(cluster, space, ACCOUNTS)


def client(shim: ShimProcess, token: str | None, basic: bool = False) -> httpx.Client:
    headers = rbac.basic("any", token) if token and basic else rbac.bearer(token)
    return httpx.Client(base_url=shim.url + jbpm.PREFIX, headers=headers, timeout=60)


def refused(response: httpx.Response, status: int) -> dict[str, str]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/xml")
    fields = jbpm.xml_fields(jbpm.parse_xml(response.content))
    assert fields["status"] == ("FORBIDDEN" if status == 403 else "FAILURE")
    return fields


def calls(api: httpx.Client, deployment_id: str) -> list[httpx.Response]:
    return [
        api.get("/deployment/"),
        api.get(f"/deployment/{deployment_id}"),
        api.get("/deployment/processes"),
        api.post(f"/deployment/{deployment_id}/deploy"),
        api.post(f"/deployment/{deployment_id}/undeploy"),
    ]


def test_no_token_and_a_bad_token_are_401(shim: ShimProcess) -> None:
    for token in (None, "not-a-token"):
        with client(shim, token) as api:
            for response in calls(api, "a:b:c"):
                fields = refused(response, 401)
                assert fields["message"].startswith("KieRemoteRestOperationException thrown")
                assert response.headers["www-authenticate"].startswith("Bearer")


def test_a_caller_without_rights_is_403(
    shim: ShimProcess, space: str, tokens: dict[str, str]
) -> None:
    with client(shim, tokens["nobody"]) as api:
        for response in calls(api, "a:b:c"):
            fields = refused(response, 403)
            assert f"system:serviceaccount:{space}:nobody" in fields["message"]


def test_verbs_follow_the_operation(shim: ShimProcess, tokens: dict[str, str]) -> None:
    deployment_id = "org.auth:verbs:1"
    with client(shim, tokens["reader"]) as reader:
        assert reader.get("/deployment/").status_code == 200
        assert reader.get(f"/deployment/{deployment_id}").status_code == 200
        assert (
            "may not create"
            in refused(reader.post(f"/deployment/{deployment_id}/deploy"), 403)["message"]
        )
        assert (
            "may not patch"
            in refused(reader.post(f"/deployment/{deployment_id}/undeploy"), 403)["message"]
        )
    with client(shim, tokens["creator"]) as creator:
        created = creator.post(f"/deployment/{deployment_id}/deploy")
        assert created.status_code == 202, created.text

        def known() -> bool:
            answer = creator.post(f"/deployment/{deployment_id}/deploy")
            return answer.status_code == 403

        # Once the unit exists, another deploy of it is a patch, which the creator may not do.
        wait_for(known, 30, "the unit to exist")
    with client(shim, tokens["manager"], basic=True) as manager:
        answer = manager.post(f"/deployment/{deployment_id}/undeploy")
        assert answer.status_code == 202, answer.text
