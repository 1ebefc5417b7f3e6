"""The Camunda dialect over real HTTP: a shim subprocess, the operator and the API server.

Matrix: create (wire format, versions, file names, booleans, tenant, source, activation time,
parse failures, duplicate filtering in both modes, form errors); list, count and registered
(filters, sorting, paging, validation); get; resources, resource, data; redeploy (all, ids,
names, both, errors); delete (flags, wording); named and default engines; read-your-writes
under concurrency; unknown routes; nothing half-created after a failed upload.
"""

import concurrent.futures
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from devcluster.plane import free_port
from devcluster.processes import OperatorProcess, ShimProcess
from tests.support.cluster import Cluster

SAMPLES = Path(__file__).resolve().parents[1] / "unit" / "samples"
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000$")
MAPS = (
    "deployedProcessDefinitions",
    "deployedCaseDefinitions",
    "deployedDecisionDefinitions",
    "deployedDecisionRequirementsDefinitions",
)


def bpmn(key: str, name: str = "Process") -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" '
        'xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="defs" '
        'targetNamespace="http://example.org/bpmn">\n'
        f'  <process id="{key}" name="{name}" isExecutable="true" camunda:versionTag="v1" '
        'camunda:historyTimeToLive="30">\n'
        '    <startEvent id="start"/>\n'
        "  </process>\n"
        "</definitions>\n"
    ).encode()


@pytest.fixture
def api(shim: ShimProcess, namespace: str) -> Iterator[httpx.Client]:
    """A client of the named engine of the test's namespace."""
    with httpx.Client(base_url=shim.engine(namespace), timeout=60) as client:
        yield client


def create(
    api: httpx.Client,
    resources: dict[str, bytes],
    expect: int = 200,
    **fields: str,
) -> dict[str, Any]:
    files = {
        f"resource-{i}": (name, content) for i, (name, content) in enumerate(resources.items())
    }
    response = api.post("/deployment/create", data=fields, files=files)
    assert response.status_code == expect, response.text
    body: dict[str, Any] = response.json()
    return body


def error(response: httpx.Response, status: int, type_: str, message: str | None = None) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["type"] == type_, body
    assert "code" in body
    if message is not None:
        assert body["message"] == message, body


# Create


def test_create_answers_the_engine_wire_format(
    api: httpx.Client, shim: ShimProcess, namespace: str
) -> None:
    body = create(
        api,
        {"invoice.bpmn": bpmn("invoice", "Invoice"), "invoice.png": b"\x89PNG"},
        **{"deployment-name": "invoice", "deployment-source": "test"},
    )
    assert list(body)[:6] == ["links", "id", "name", "source", "deploymentTime", "tenantId"]
    assert body["links"] == [
        {
            "method": "GET",
            "href": f"{shim.engine(namespace)}/deployment/{body['id']}",
            "rel": "self",
        }
    ]
    assert body["name"] == "invoice"
    assert body["source"] == "test"
    assert body["tenantId"] is None
    assert DATE.match(body["deploymentTime"])
    [(definition_id, process)] = body["deployedProcessDefinitions"].items()
    assert definition_id == process["id"]
    assert definition_id.startswith("invoice:1:")
    assert process["key"] == "invoice"
    assert process["name"] == "Invoice"
    assert process["version"] == 1
    assert process["resource"] == "invoice.bpmn"
    assert process["deploymentId"] == body["id"]
    assert process["diagram"] == "invoice.png"
    assert process["suspended"] is False
    assert process["category"] == "http://example.org/bpmn"
    assert process["versionTag"] == "v1"
    assert process["historyTimeToLive"] == 30
    assert process["startableInTasklist"] is True
    assert process["description"] is None
    for key in MAPS[1:]:
        assert body[key] is None
    # Read your write: the deployment is visible at once.
    got = api.get(f"/deployment/{body['id']}")
    assert got.status_code == 200
    assert got.json() == {
        "links": [],
        "id": body["id"],
        "name": "invoice",
        "source": "test",
        "deploymentTime": body["deploymentTime"],
        "tenantId": None,
    }


def test_every_kind_of_definition(api: httpx.Client) -> None:
    body = create(
        api,
        {
            "invoice.bpmn": (SAMPLES / "invoice.bpmn").read_bytes(),
            "dish.dmn": (SAMPLES / "dish.dmn").read_bytes(),
            "claim.cmmn": (SAMPLES / "claim.cmmn").read_bytes(),
        },
        **{"deployment-name": "kinds"},
    )
    for key in MAPS:
        assert body[key], key
    for decision in body["deployedDecisionDefinitions"].values():
        assert decision["resource"] == "dish.dmn"
        if decision["decisionRequirementsDefinitionKey"] is not None:
            assert (
                decision["decisionRequirementsDefinitionId"]
                in (body["deployedDecisionRequirementsDefinitions"])
            )
    case = next(iter(body["deployedCaseDefinitions"].values()))
    assert set(case) == {
        "id",
        "key",
        "category",
        "name",
        "version",
        "resource",
        "deploymentId",
        "tenantId",
        "historyTimeToLive",
    }


def test_every_deploy_makes_new_versions(api: httpx.Client) -> None:
    versions = [
        next(iter(create(api, {"p.bpmn": bpmn("same")})["deployedProcessDefinitions"].values()))[
            "version"
        ]
        for _ in range(3)
    ]
    assert versions == [1, 2, 3]


def test_tenants_version_separately_and_activation_time_shows_as_the_engine(
    api: httpx.Client,
) -> None:
    first = create(api, {"p.bpmn": bpmn("tenanted")}, **{"tenant-id": "t1"})
    other = create(
        api,
        {"p.bpmn": bpmn("tenanted")},
        **{"tenant-id": "t2", "deployment-activation-time": "2030-01-01T00:00:00.000+0000"},
    )
    assert first["tenantId"] == "t1"
    process = next(iter(other["deployedProcessDefinitions"].values()))
    assert process["version"] == 1
    assert process["tenantId"] == "t2"
    # As Camunda 7.24's create answer shows it (issue 16, item 7).
    assert process["suspended"] is False


def test_a_resource_without_extension_deploys_no_definition(api: httpx.Client) -> None:
    # pycamunda sends raw bytes with the field name as file name.
    body = create(api, {"resource-0": bpmn("ignored")})
    assert all(body[key] is None for key in MAPS)
    resources = api.get(f"/deployment/{body['id']}/resources").json()
    assert [r["name"] for r in resources] == ["resource-0"]


def test_form_errors(api: httpx.Client) -> None:
    no_name = api.post(
        "/deployment/create", files={"data": ("", b"x")}, data={"deployment-name": "n"}
    )
    error(
        no_name,
        400,
        "InvalidRequestException",
        "No file name found in the deployment resource described by form parameter 'null'.",
    )
    nothing = api.post("/deployment/create", files={"deployment-name": (None, b"n")})
    error(
        nothing,
        400,
        "InvalidRequestException",
        "No deployment resources contained in the form upload.",
    )
    broken = api.post(
        "/deployment/create",
        content=b"--b\r\nContent-Disposition: form-data; name=x\r\n\r\nunterminated",
        headers={"Content-Type": "multipart/form-data; boundary=b"},
    )
    error(broken, 400, "RestException", "multipart/form-data cannot be processed")
    wrong_type = api.post("/deployment/create", json={"deployment-name": "x"})
    error(wrong_type, 415, "NotSupportedException")


def test_parse_failure_is_a_parse_exception_and_leaves_nothing(
    api: httpx.Client, cluster: Cluster, namespace: str
) -> None:
    broken = b'<?xml version="1.0"?>\n<definitions>\n  <process id="p">\n</definitions>\n'
    response = api.post(
        "/deployment/create",
        files={"a": ("broken.bpmn", broken), "b": ("fine.bpmn", bpmn("fine"))},
    )
    error(response, 400, "ParseException")
    body = response.json()
    assert body["code"] == 0
    [problem] = body["details"]["broken.bpmn"]["errors"]
    assert problem["line"] >= 1
    assert problem["column"] >= 0
    assert problem["message"]
    assert "\u0435lementIds" in problem
    assert body["details"]["broken.bpmn"]["warnings"] == []
    assert api.get("/deployment/count").json() == {"count": 0}

    def cleaned() -> bool:
        units = cluster.kubectl("get", "du", "-n", namespace, "-o", "name").stdout.split()
        snaps = cluster.kubectl(
            "get", "configmaps", "-n", namespace, "-l", "bpm.deployunits.io/snapshot", "-o", "name"
        ).stdout.split()
        return not units and not snaps

    deadline = time.monotonic() + 30
    while not cleaned():
        assert time.monotonic() < deadline, "the failed upload left objects behind"
        time.sleep(0.2)


def test_duplicate_filtering_answers_the_earlier_deployment(api: httpx.Client) -> None:
    fields = {"deployment-name": "dup", "enable-duplicate-filtering": "true"}
    first = create(api, {"a.bpmn": bpmn("dupa"), "b.bpmn": bpmn("dupb")}, **fields)
    again = create(api, {"a.bpmn": bpmn("dupa"), "b.bpmn": bpmn("dupb")}, **fields)
    assert again["id"] == first["id"]
    assert all(again[key] is None for key in MAPS)
    assert again["links"][0]["href"].endswith(f"/deployment/{first['id']}")
    assert api.get("/deployment/count", params={"name": "dup"}).json() == {"count": 1}
    # Whole-deployment mode: one change deploys every resource again.
    changed = create(api, {"a.bpmn": bpmn("dupa", "changed"), "b.bpmn": bpmn("dupb")}, **fields)
    assert changed["id"] != first["id"]
    assert sorted(p["key"] for p in changed["deployedProcessDefinitions"].values()) == [
        "dupa",
        "dupb",
    ]


def test_deploy_changed_only_deploys_changed_resources(api: httpx.Client) -> None:
    fields = {"deployment-name": "changed", "deploy-changed-only": "TRUE"}
    create(api, {"a.bpmn": bpmn("cha"), "b.bpmn": bpmn("chb")}, **fields)
    second = create(api, {"a.bpmn": bpmn("cha", "new name"), "b.bpmn": bpmn("chb")}, **fields)
    processes = list(second["deployedProcessDefinitions"].values())
    assert [(p["key"], p["version"]) for p in processes] == [("cha", 2)]
    resources = api.get(f"/deployment/{second['id']}/resources").json()
    assert sorted(r["name"] for r in resources) == ["a.bpmn", "b.bpmn"]


# Reads


@pytest.fixture
def three(api: httpx.Client) -> list[dict[str, Any]]:
    made = [
        create(api, {"x.bpmn": bpmn("k1")}, **{"deployment-name": "alpha", "tenant-id": "t1"}),
        create(
            api,
            {"x.bpmn": bpmn("k2")},
            **{"deployment-name": "beta", "deployment-source": "modeler"},
        ),
        create(api, {"x.bpmn": bpmn("k3")}, **{"deployment-name": "alphabet", "tenant-id": "t2"}),
    ]
    return made


def ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [d["id"] for d in response.json()]


def test_list_filters_sorting_paging(api: httpx.Client, three: list[dict[str, Any]]) -> None:
    a, b, c = (d["id"] for d in three)
    assert sorted(ids(api.get("/deployment"))) == sorted([a, b, c])
    assert ids(api.get("/deployment")) == sorted([a, b, c])
    assert ids(api.get("/deployment", params={"id": b})) == [b]
    assert ids(api.get("/deployment", params={"name": "alpha"})) == [a]
    assert sorted(ids(api.get("/deployment", params={"nameLike": "alpha%"}))) == sorted([a, c])
    assert ids(api.get("/deployment", params={"source": "modeler"})) == [b]
    assert sorted(ids(api.get("/deployment", params={"withoutSource": "true"}))) == sorted([a, c])
    assert sorted(ids(api.get("/deployment", params={"tenantIdIn": "t1,t2"}))) == sorted([a, c])
    assert sorted(
        ids(
            api.get(
                "/deployment",
                params={"tenantIdIn": "t1", "includeDeploymentsWithoutTenantId": "true"},
            )
        )
    ) == sorted([a, b])
    assert ids(api.get("/deployment", params={"withoutTenantId": "true"})) == [b]
    by_name = api.get("/deployment", params={"sortBy": "name", "sortOrder": "desc"})
    assert [d["name"] for d in by_name.json()] == ["beta", "alphabet", "alpha"]
    by_time = ids(api.get("/deployment", params={"sortBy": "deploymentTime", "sortOrder": "asc"}))
    assert set(by_time) == {a, b, c}
    paged = ids(
        api.get(
            "/deployment",
            params={"sortBy": "name", "sortOrder": "asc", "firstResult": "1", "maxResults": "1"},
        )
    )
    assert paged == [c]
    assert ids(
        api.get("/deployment", params={"sortBy": "name", "sortOrder": "asc", "firstResult": "2"})
    ) == [b]
    assert len(ids(api.get("/deployment", params={"maxResults": "2"}))) == 2
    # Only the first value of a repeated parameter counts.
    assert ids(api.get("/deployment", params=[("name", "beta"), ("name", "alpha")])) == [b]
    after = api.get("/deployment", params={"after": "2000-01-01T00:00:00.000+0000"})
    assert len(ids(after)) == 3
    before = api.get("/deployment", params={"before": "2000-01-01T00:00:00.000+0000"})
    assert ids(before) == []
    assert api.get("/deployment/count", params={"nameLike": "alpha%"}).json() == {"count": 2}
    assert api.get("/deployment/count").json() == {"count": 3}
    assert sorted(api.get("/deployment/registered").json()) == sorted([a, b, c])


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"sortBy": "name"},
            "Only a single sorting parameter specified. sortBy and sortOrder required",
        ),
        (
            {"sortOrder": "asc"},
            "Only a single sorting parameter specified. sortBy and sortOrder required",
        ),
        (
            {"sortBy": "definitionTime", "sortOrder": "asc"},
            "Cannot set query parameter 'sortBy' to value 'definitionTime'",
        ),
        (
            {"sortBy": "name", "sortOrder": "up"},
            "Cannot set query parameter 'sortOrder' to value 'up'",
        ),
        (
            {"withoutSource": "true", "source": "x"},
            'The query parameters "withoutSource" and "source" cannot be used in combination.',
        ),
        ({"before": '"2026-01-01T00:00:00.000+0000"'}, None),
    ],
)
def test_list_validation(api: httpx.Client, params: dict[str, str], message: str | None) -> None:
    for path in ("/deployment", "/deployment/count"):
        error(api.get(path, params=params), 400, "InvalidRequestException", message)


def test_get_unknown(api: httpx.Client) -> None:
    error(
        api.get("/deployment/nope"),
        404,
        "InvalidRequestException",
        "Deployment with id 'nope' does not exist",
    )


def test_resources_resource_and_data(api: httpx.Client) -> None:
    content = bpmn("data")
    body = create(
        api, {"dir/my process.bpmn": content, "form.json": b'{"a": 1}', "raw": b"\x00\x01"}
    )
    deployment_id = body["id"]
    resources = api.get(f"/deployment/{deployment_id}/resources").json()
    assert sorted(r["name"] for r in resources) == ["dir/my process.bpmn", "form.json", "raw"]
    assert all(set(r) == {"id", "name", "deploymentId"} for r in resources)
    by_name = {r["name"]: r for r in resources}
    one = api.get(f"/deployment/{deployment_id}/resources/{by_name['form.json']['id']}")
    assert one.json() == by_name["form.json"]
    data = api.get(
        f"/deployment/{deployment_id}/resources/{by_name['dir/my process.bpmn']['id']}/data"
    )
    assert data.status_code == 200
    assert data.content == content
    assert data.headers["content-type"] == "application/xml"
    assert data.headers["content-disposition"] == (
        "attachment; filename=\"my process.bpmn\"; filename*=UTF-8''my%20process.bpmn"
    )
    json_data = api.get(f"/deployment/{deployment_id}/resources/{by_name['form.json']['id']}/data")
    assert json_data.headers["content-type"] == "application/json"
    raw = api.get(f"/deployment/{deployment_id}/resources/{by_name['raw']['id']}/data")
    assert raw.headers["content-type"] == "application/octet-stream"
    assert raw.content == b"\x00\x01"
    error(
        api.get("/deployment/nope/resources"),
        404,
        "InvalidRequestException",
        "Deployment resources for deployment id 'nope' do not exist.",
    )
    error(
        api.get("/deployment/nope/resources/x"),
        404,
        "InvalidRequestException",
        "Deployment resources for deployment id 'nope' do not exist.",
    )
    error(
        api.get(f"/deployment/{deployment_id}/resources/x"),
        404,
        "InvalidRequestException",
        f"Deployment resource with resource id 'x' for deployment id '{deployment_id}' "
        "does not exist.",
    )
    error(
        api.get(f"/deployment/{deployment_id}/resources/x/data"),
        404,
        "InvalidRequestException",
        f"Deployment resource 'x' for deployment id '{deployment_id}' does not exist.",
    )


# Redeploy


def test_redeploy_all_ids_names_and_both(
    api: httpx.Client, shim: ShimProcess, namespace: str
) -> None:
    original = create(
        api,
        {"a.bpmn": bpmn("ra"), "b.bpmn": bpmn("rb"), "c.bpmn": bpmn("rc")},
        **{"deployment-name": "orig", "tenant-id": "t9", "deployment-source": "first"},
    )
    resources = {
        r["name"]: r["id"] for r in api.get(f"/deployment/{original['id']}/resources").json()
    }

    def keys(body: dict[str, Any]) -> list[tuple[str, int]]:
        return sorted((p["key"], p["version"]) for p in body["deployedProcessDefinitions"].values())

    everything = api.post(f"/deployment/{original['id']}/redeploy")
    assert everything.status_code == 200, everything.text
    all_body = everything.json()
    assert all_body["id"] != original["id"]
    assert all_body["name"] == "orig"
    assert all_body["tenantId"] == "t9"
    assert all_body["source"] is None
    assert all_body["links"] == [
        {
            "method": "GET",
            "href": f"{shim.engine(namespace)}/deployment/{all_body['id']}",
            "rel": "self",
        }
    ]
    assert keys(all_body) == [("ra", 2), ("rb", 2), ("rc", 2)]
    assert api.get(f"/deployment/{all_body['id']}").status_code == 200
    by_id = api.post(
        f"/deployment/{original['id']}/redeploy",
        json={"resourceIds": [resources["a.bpmn"]], "source": "again"},
    ).json()
    assert keys(by_id) == [("ra", 3)]
    assert by_id["source"] == "again"
    by_name = api.post(
        f"/deployment/{original['id']}/redeploy", json={"resourceNames": ["b.bpmn"]}
    ).json()
    assert keys(by_name) == [("rb", 3)]
    both = api.post(
        f"/deployment/{original['id']}/redeploy",
        json={"resourceIds": [resources["a.bpmn"]], "resourceNames": ["c.bpmn"]},
    ).json()
    assert keys(both) == [("ra", 4), ("rc", 3)]
    empty = api.post(
        f"/deployment/{original['id']}/redeploy", json={"resourceIds": [], "resourceNames": []}
    )
    assert keys(empty.json()) == [("ra", 5), ("rb", 4), ("rc", 4)]
    redeployed_resources = api.get(f"/deployment/{both['id']}/resources").json()
    assert sorted(r["name"] for r in redeployed_resources) == ["a.bpmn", "c.bpmn"]
    assert not {r["id"] for r in redeployed_resources} & set(resources.values())


def test_redeploy_errors(api: httpx.Client) -> None:
    error(
        api.post("/deployment/nope/redeploy"),
        404,
        "InvalidRequestException",
        "Deployment with id 'nope' does not exist",
    )
    original = create(api, {"a.bpmn": bpmn("re")})
    deployment_id = original["id"]
    error(
        api.post(f"/deployment/{deployment_id}/redeploy", json={"resourceIds": ["x", "y"]}),
        404,
        "InvalidRequestException",
        f"Cannot redeploy deployment '{deployment_id}': The deployment with id "
        f"'{deployment_id}' does not contain the following resources with id: x, y",
    )
    error(
        api.post(f"/deployment/{deployment_id}/redeploy", json={"resourceNames": ["z.bpmn"]}),
        404,
        "InvalidRequestException",
        f"Cannot redeploy deployment '{deployment_id}': The deployment with id "
        f"'{deployment_id}' does not contain the following resources with name: z.bpmn",
    )
    malformed = api.post(
        f"/deployment/{deployment_id}/redeploy",
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    error(malformed, 400, "InvalidRequestException", "")


# Delete


def test_delete(api: httpx.Client) -> None:
    body = create(api, {"a.bpmn": bpmn("del")})
    deleted = api.delete(
        f"/deployment/{body['id']}",
        params={"cascade": "True", "skipCustomListeners": "bla", "skipIoMappings": "true"},
    )
    assert deleted.status_code == 204
    assert deleted.content == b""
    error(api.get(f"/deployment/{body['id']}"), 404, "InvalidRequestException")
    error(
        api.delete(f"/deployment/{body['id']}"),
        404,
        "InvalidRequestException",
        f"Deployment with id '{body['id']}' do not exist",
    )
    assert body["id"] not in api.get("/deployment/registered").json()


# Engines, routes, consistency


def test_default_engine_is_the_shims_namespace(
    cluster: Cluster, operator: OperatorProcess, namespace: str, tmp_path: Path
) -> None:
    process = ShimProcess(cluster.kubeconfig, tmp_path / "log", namespace=namespace)
    process.start()
    try:
        with httpx.Client(base_url=process.engine(), timeout=60) as default:
            body = create(default, {"a.bpmn": bpmn("default")})
            assert body["links"][0]["href"] == f"{process.engine()}/deployment/{body['id']}"
            with httpx.Client(base_url=process.engine(namespace), timeout=60) as named:
                assert ids(named.get("/deployment")) == [body["id"]]
            engines = default.get("/engine").json()
            assert engines == [{"name": namespace}]
            assert default.get("/version").json() == {"version": "7.24.0"}
    finally:
        process.stop()


def test_named_engines_are_separate(shim: ShimProcess, cluster: Cluster, api: httpx.Client) -> None:
    create(api, {"a.bpmn": bpmn("separate")})
    other = f"other-{int(time.time() * 1000) % 100000}"
    cluster.kubectl("create", "namespace", other)
    try:
        with httpx.Client(base_url=shim.engine(other), timeout=60) as elsewhere:
            assert elsewhere.get("/deployment").json() == []
    finally:
        cluster.kubectl("delete", "namespace", other, "--wait=false")
    with httpx.Client(base_url=shim.engine("Not_A_Namespace"), timeout=60) as bad:
        error(bad.get("/deployment"), 400, "InvalidRequestException", "No process engine available")
    with httpx.Client(base_url=shim.engine("no-such-namespace"), timeout=60) as missing:
        error(
            missing.post("/deployment/create", files={"a": ("a.bpmn", bpmn("x"))}),
            400,
            "InvalidRequestException",
            "No process engine available",
        )


def test_a_named_engine_is_a_namespace_that_exists(shim: ShimProcess) -> None:
    # Camunda 7.24 without authentication: the REST layer's 400 on every route under the
    # engine, the runtime's own 404 and 405 elsewhere.
    with httpx.Client(base_url=shim.engine("no-such-namespace"), timeout=60) as missing:
        for response in (
            missing.get("/deployment/count"),
            missing.get("/deployment"),
            missing.get("/deployment/some-id/resources/r/data"),
            missing.delete("/deployment/some-id"),
        ):
            error(response, 400, "InvalidRequestException", "No process engine available")
        error(missing.get("/nothing-here"), 404, "NotFoundException")
        error(missing.put("/deployment/count"), 405, "NotAllowedException")


def test_unknown_routes_and_methods(api: httpx.Client) -> None:
    error(api.get("/nothing-here"), 404, "NotFoundException")
    error(api.put("/deployment/create"), 405, "NotAllowedException")


@pytest.mark.parametrize("auth_mode", ["none", "kubernetes"])
def test_an_unreachable_api_server_is_a_503_with_retry_after(
    cluster: Cluster, tmp_path: Path, auth_mode: str
) -> None:
    config = yaml.safe_load(cluster.kubeconfig.read_text())
    for entry in config["clusters"]:
        entry["cluster"]["server"] = f"https://127.0.0.1:{free_port()}"
    dead = tmp_path / "dead.kubeconfig"
    dead.write_text(yaml.safe_dump(config))
    process = ShimProcess(dead, tmp_path / "log", auth_mode=auth_mode)
    process.start(ready=False)
    try:
        with httpx.Client(base_url=process.engine(), timeout=60) as api:
            for response in (
                api.get("/deployment", headers={"Authorization": "Bearer x"}),
                api.post(
                    "/deployment/create",
                    files={"a": ("a.bpmn", bpmn("down"))},
                    headers={"Authorization": "Bearer x"},
                ),
            ):
                assert response.status_code == 503, response.text
                assert response.headers["retry-after"] == "5"
                body = response.json()
                assert set(body) == {"type", "message", "code"}
                assert "Traceback" not in response.text
        assert httpx.get(f"{process.url}/readyz").status_code == 503
    finally:
        process.stop()
    assert "Traceback" not in process.tail(200)


def test_read_your_writes_under_concurrency(shim: ShimProcess, namespace: str) -> None:
    """Each writer reads its write at once through a different connection."""

    def one(index: int) -> str:
        with httpx.Client(base_url=shim.engine(namespace), timeout=60) as writer:
            body = create(
                writer, {f"p{index}.bpmn": bpmn(f"c{index}")}, **{"deployment-name": f"c{index}"}
            )
        with httpx.Client(base_url=shim.engine(namespace), timeout=60) as reader:
            assert reader.get(f"/deployment/{body['id']}").status_code == 200
            listed = reader.get("/deployment", params={"name": f"c{index}"}).json()
            assert [d["id"] for d in listed] == [body["id"]]
            assert reader.delete(f"/deployment/{body['id']}").status_code == 204
            assert reader.get(f"/deployment/{body['id']}").status_code == 404
            assert reader.get("/deployment/count", params={"id": body["id"]}).json() == {"count": 0}
        return str(body["id"])

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        made = list(pool.map(one, range(16)))
    assert len(set(made)) == 16
