"""The Camunda dialect against the real Camunda 7.24 engine: the same calls to both, compared.

Each case sends one call (or a short sequence) to the engine and to the shim and compares the
status codes and the bodies, normalised: ids, times and base URLs are replaced by placeholders,
so that what remains is what a client reads. Deployments of one test carry a source of their own
on both sides (the engine is shared by the session), and every query filters by it.

Matrix: create (one and two resources, names, sources, tenants, a future activation time,
duplicate filtering), get, resources, resource data; list filters (id, name, nameLike, source,
withoutSource, tenantIdIn, withoutTenantId, includeDeploymentsWithoutTenantId, before/after),
sorting and paging, count; redeploy (all, by ids, by names) and delete; content the engine's
parser refuses (schema violations and dangling references, executable or not; DMN and CMMN);
every error the dialect answers for these routes (unknown ids, missing resources, bad query
values, bad sorting, empty uploads, wrong media types, redeploy of missing resources, unknown
routes and methods); an unknown named engine with authentication on. Where the shim
deliberately answers otherwise, `DEVIATIONS` says so (the reasons are in
api/camunda/__init__.py), and the case checks that the difference is exactly that one.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from devcluster.processes import ShimProcess
from tests.support.engine import RunningEngine

_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_TIME = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}[+-]\d{4}"


@dataclass
class Side:
    """One of the two servers: its base URL (the engine-rest root or a named engine's root)."""

    name: str
    client: httpx.Client
    base: str

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.request(method, self.base + path, **kwargs)


@dataclass
class Answer:
    status: int
    body: Any


def normalise(value: Any, base: str) -> Any:
    """The body with ids, times and the side's base URL replaced by placeholders."""
    if isinstance(value, dict):
        return {normalise(k, base): normalise(v, base) for k, v in value.items()}
    if isinstance(value, list):
        return [normalise(v, base) for v in value]
    if isinstance(value, str):
        text = value.replace(base, "<base>")
        text = re.sub(_UUID, "<id>", text)
        return re.sub(_TIME, "<time>", text)
    return value


def answer(side: Side, response: httpx.Response) -> Answer:
    if response.headers.get("content-type", "").startswith("application/json"):
        body: Any = response.json() if response.content else None
    else:
        body = response.content
    return Answer(response.status_code, normalise(body, side.base))


@dataclass
class Pair:
    """The engine and the shim, called alike."""

    engine: Side
    shim: Side
    #: Unique per test: the source (and name prefix) of the test's deployments.
    tag: str

    def both(self, method: str, path: str, **kwargs: Any) -> tuple[Answer, Answer]:
        return (
            answer(self.engine, self.engine.call(method, path, **kwargs)),
            answer(self.shim, self.shim.call(method, path, **kwargs)),
        )

    def same(self, method: str, path: str, **kwargs: Any) -> Answer:
        """Call both; assert the normalised answers are equal; return the engine's."""
        engine, shim = self.both(method, path, **kwargs)
        assert shim == engine, f"{method} {path}: shim {shim} != engine {engine}"
        return engine

    def create(self, resources: dict[str, bytes], **fields: str) -> tuple[str, str]:
        """Create on both sides (equal answers); the two deployment ids."""
        form = {"deployment-source": self.tag, **fields}
        files = {name: (name, content) for name, content in resources.items()}
        engine = self.engine.call("POST", "/deployment/create", data=form, files=files)
        shim = self.shim.call("POST", "/deployment/create", data=form, files=files)
        ours, theirs = answer(self.shim, shim), answer(self.engine, engine)
        assert ours == theirs, f"create: shim {ours} != engine {theirs}"
        assert engine.status_code == 200, engine.text
        return engine.json()["id"], shim.json()["id"]

    def each(
        self, method: str, paths: tuple[str, str], **kwargs: Any
    ) -> tuple[httpx.Response, httpx.Response]:
        """Call a path that differs per side (it names a side's own ids)."""
        return self.engine.call(method, paths[0], **kwargs), self.shim.call(
            method, paths[1], **kwargs
        )


def process(key: str, name: str | None = None) -> bytes:
    named = f' name="{name}"' if name else ""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d-{key}" '
        f'targetNamespace="urn:fidelity">\n'
        f'  <process id="{key}"{named} isExecutable="true">\n'
        '    <startEvent id="start"/>\n'
        "  </process>\n"
        "</definitions>\n"
    ).encode()


@pytest.fixture(scope="module")
def shim(space: str, start_shim: Callable[..., ShimProcess]) -> ShimProcess:
    return start_shim(namespace=space)


@pytest.fixture
def pair(camunda7: RunningEngine, shim: ShimProcess, namespace: str) -> Iterator[Pair]:
    auth = httpx.BasicAuth(camunda7.credentials.username, camunda7.credentials.password)
    with (
        httpx.Client(auth=auth, timeout=60) as engine,
        httpx.Client(timeout=60) as shim_client,
    ):
        yield Pair(
            Side("engine", engine, camunda7.url),
            Side("shim", shim_client, shim.engine(namespace)),
            f"fidelity-{uuid.uuid4().hex[:10]}",
        )


def key(pair: Pair, name: str) -> str:
    """A process key of the test's own (definitions version per key on the shared engine)."""
    return f"{name}_{pair.tag[-10:]}"


# Creating and reading.


def test_create_get_and_resources_answer_alike(pair: Pair) -> None:
    first = key(pair, "one")
    engine_id, shim_id = pair.create(
        {"one.bpmn": process(first, "One"), "notes.txt": b"plain text"},
        **{"deployment-name": f"{pair.tag}-a", "tenant-id": "t1"},
    )
    ids = (f"/deployment/{engine_id}", f"/deployment/{shim_id}")
    engine, shim = pair.each("GET", ids)
    assert answer(pair.shim, shim) == answer(pair.engine, engine)

    engine, shim = pair.each("GET", (ids[0] + "/resources", ids[1] + "/resources"))
    assert answer(pair.shim, shim) == answer(pair.engine, engine)
    for engine_item, shim_item in zip(engine.json(), shim.json(), strict=True):
        one = (
            f"{ids[0]}/resources/{engine_item['id']}",
            f"{ids[1]}/resources/{shim_item['id']}",
        )
        engine, shim = pair.each("GET", one)
        assert answer(pair.shim, shim) == answer(pair.engine, engine)
        engine, shim = pair.each("GET", (one[0] + "/data", one[1] + "/data"))
        assert (shim.status_code, shim.content) == (engine.status_code, engine.content)
        assert shim.headers["content-type"] == engine.headers["content-type"]


def test_a_future_activation_time_and_duplicates_answer_alike(pair: Pair) -> None:
    later = key(pair, "later")
    pair.create(
        {"later.bpmn": process(later)},
        **{"deployment-activation-time": "2099-01-01T00:00:00.000+0000"},
    )
    name = f"{pair.tag}-dup"
    pair.create({"dup.bpmn": process(key(pair, "dup"))}, **{"deployment-name": name})
    # Nothing changed: both answer with the earlier deployment and no definitions.
    pair.create(
        {"dup.bpmn": process(key(pair, "dup"))},
        **{"deployment-name": name, "enable-duplicate-filtering": "true"},
    )


@pytest.mark.parametrize("mode", ["deploy-changed-only", "enable-duplicate-filtering"])
def test_duplicate_filtering_sees_the_callers_last_deployment_at_once(
    pair: Pair, mode: str
) -> None:
    # A CI script deploys, changes one file and deploys again a few milliseconds later.
    name = f"{pair.tag}-ci"
    a, b = key(pair, "a"), key(pair, "b")
    pair.create({"a.bpmn": process(a), "b.bpmn": process(b)}, **{"deployment-name": name})
    changed = {"a.bpmn": process(a), "b.bpmn": process(b, "Changed")}
    pair.create(changed, **{"deployment-name": name, mode: "true"})
    pair.create(changed, **{"deployment-name": name, mode: "true"})


def test_duplicate_filtering_holds_across_two_shim_replicas(
    pair: Pair, start_shim: Callable[..., ShimProcess], space: str, namespace: str
) -> None:
    # Two replicas behind one Service: each call may reach either one.
    other = start_shim(namespace=space)
    replicas = [pair.shim, Side("shim", pair.shim.client, other.engine(namespace))]
    name = f"{pair.tag}-replicas"
    a, b = key(pair, "a"), key(pair, "b")
    for turn, label in enumerate(["One", "Two", "Two", "Three"]):
        pair.shim = replicas[turn % 2]
        pair.create(
            {"a.bpmn": process(a), "b.bpmn": process(b, label)},
            **{"deployment-name": name, "deploy-changed-only": "true"},
        )


# Queries.


@pytest.fixture
def listed(pair: Pair) -> Pair:
    """Three deployments on each side, by name a, b, c; b without tenant."""
    for suffix, tenant in (("b", None), ("a", "t1"), ("c", "t2")):
        fields = {"deployment-name": f"{pair.tag}-{suffix}"}
        if tenant:
            fields["tenant-id"] = tenant
        pair.create({f"{suffix}.bpmn": process(key(pair, suffix))}, **fields)
    return pair


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"sortBy": "name", "sortOrder": "asc"},
        {"sortBy": "name", "sortOrder": "desc"},
        {"sortBy": "tenantId", "sortOrder": "asc"},
        {"sortBy": "name", "sortOrder": "asc", "firstResult": "1", "maxResults": "1"},
        {"sortBy": "name", "sortOrder": "asc", "firstResult": "5"},
        {"sortBy": "name", "sortOrder": "asc", "maxResults": ""},
        {"nameLike": "%-b", "sortBy": "name", "sortOrder": "asc"},
        {"tenantIdIn": "t1,t2", "sortBy": "name", "sortOrder": "asc"},
        {"withoutTenantId": "true"},
        {"tenantIdIn": ""},
        {"sortBy": "id", "sortOrder": "asc", "firstResult": "-1", "maxResults": "-1"},
        {"name": "", "nameLike": "%"},
        {
            "tenantIdIn": "t2",
            "includeDeploymentsWithoutTenantId": "true",
            "sortBy": "name",
            "sortOrder": "asc",
        },
        {"after": "2000-01-01T00:00:00.000+0000", "sortBy": "name", "sortOrder": "desc"},
        {"before": "2000-01-01T00:00:00.000+0000"},
    ],
)
def test_lists_and_counts_filter_sort_and_page_alike(listed: Pair, query: dict[str, str]) -> None:
    scoped = {"source": listed.tag, **query}
    if "sortBy" not in query:
        # Without sorting the engine's order is its database's: compare as sets.
        engine, shim = listed.both("GET", "/deployment", params=scoped)
        assert shim.status == engine.status == 200
        assert sorted(map(str, shim.body)) == sorted(map(str, engine.body))
    else:
        listed.same("GET", "/deployment", params=scoped)
    counted = {k: v for k, v in scoped.items() if k not in ("sortBy", "sortOrder")}
    listed.same("GET", "/deployment/count", params=counted)


def test_filters_by_name_and_id_answer_alike(listed: Pair) -> None:
    listed.same("GET", "/deployment", params={"source": listed.tag, "name": f"{listed.tag}-a"})
    listed.same("GET", "/deployment", params={"id": "no-such-id"})
    listed.same("GET", "/deployment/count", params={"withoutSource": "true", "source": "x"})


# Errors.


@pytest.mark.parametrize(
    ("method", "path", "params"),
    [
        ("GET", "/deployment/no-such-id", {}),
        ("GET", "/deployment/no-such-id/resources", {}),
        ("GET", "/deployment/no-such-id/resources/r", {}),
        ("DELETE", "/deployment/no-such-id", {}),
        ("POST", "/deployment/no-such-id/redeploy", {}),
        ("GET", "/deployment", {"maxResults": "abc"}),
        ("GET", "/deployment", {"firstResult": "1.5"}),
        ("GET", "/deployment", {"maxResults": " 5"}),
        ("GET", "/deployment/count", {"maxResults": "abc", "source": "none"}),
        ("GET", "/deployment", {"sortBy": "foo", "sortOrder": "asc"}),
        ("GET", "/deployment", {"sortOrder": "up", "sortBy": "id"}),
        ("GET", "/deployment", {"sortBy": "id"}),
        ("GET", "/deployment", {"after": "abc"}),
        ("GET", "/deployment", {"withoutSource": "abc"}),
        ("GET", "/deployment", {"withoutTenantId": "yes"}),
        ("GET", "/nothing-here", {}),
        ("PUT", "/deployment/count", {}),
    ],
)
def test_errors_answer_alike(pair: Pair, method: str, path: str, params: dict[str, str]) -> None:
    pair.same(method, path, params=params)


def test_upload_errors_answer_alike(pair: Pair) -> None:
    pair.same("POST", "/deployment/create", data={"deployment-name": "x"}, files={})
    pair.same(
        "POST",
        "/deployment/create",
        content=b"x",
        headers={"Content-Type": "text/plain"},
    )


def test_redeploy_errors_and_redeploy_answer_alike(pair: Pair) -> None:
    engine_id, shim_id = pair.create({"r.bpmn": process(key(pair, "r"))})
    paths = (f"/deployment/{engine_id}/redeploy", f"/deployment/{shim_id}/redeploy")
    for body in (
        {"resourceIds": ["nope"]},
        {"resourceNames": ["nope.bpmn"]},
        {"resourceIds": ["nope"], "resourceNames": ["x"]},
    ):
        engine, shim = pair.each("POST", paths, json=body)
        ours, theirs = answer(pair.shim, shim), answer(pair.engine, engine)
        # The message names each side's own deployment id: compared with it normalised.
        assert ours == theirs, (ours, theirs)
        assert theirs.body["code"] == 0
    engine, shim = pair.each("POST", paths, json={"source": pair.tag})
    assert answer(pair.shim, shim) == answer(pair.engine, engine)
    engine, shim = pair.each("DELETE", (f"/deployment/{engine_id}", f"/deployment/{shim_id}"))
    assert (shim.status_code, shim.content) == (engine.status_code, engine.content) == (204, b"")


def invalid_process(key: str, body: str, *, executable: bool = True) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" '
        'targetNamespace="urn:fidelity">\n'
        f'  <process id="{key}" isExecutable="{str(executable).lower()}">\n'
        f"{body}"
        "  </process>\n"
        "</definitions>\n"
    ).encode()


_MISPLACED = '    <startEvent id="start"><bogus/></startEvent>\n'
_DANGLING = (
    '    <startEvent id="start"/>\n'
    '    <sequenceFlow id="f1" sourceRef="start" targetRef="missing"/>\n'
    '    <sequenceFlow id="f2" sourceRef="nowhere" targetRef="start"/>\n'
)


@pytest.mark.parametrize(
    ("body", "executable"),
    [(_MISPLACED, True), (_MISPLACED, False), (_DANGLING, True), (_DANGLING, False)],
    ids=["misplaced", "misplaced-not-executable", "dangling", "dangling-not-executable"],
)
def test_invalid_bpmn_is_the_engines_parse_exception(
    pair: Pair, body: str, executable: bool
) -> None:
    """Same status, type, code and message head; per problem the same position, element ids
    and (for the reference checks) message; schema messages are libxml2's (a deviation)."""
    form = {"deployment-source": pair.tag}
    content = invalid_process(key(pair, "invalid"), body, executable=executable)
    files = {"p": ("p.bpmn", content)}
    engine, shim = pair.both("POST", "/deployment/create", files=files, data=form)
    for side in (engine, shim):
        assert (side.status, side.body["type"], side.body["code"]) == (400, "ParseException", 0)
        assert side.body["message"].startswith(
            "ENGINE-09005 Could not parse BPMN process. Errors: \n* "
        )
        assert list(side.body["details"]) == ["p.bpmn"]
        assert side.body["details"]["p.bpmn"]["warnings"] == []

    def problems(answer_: Answer) -> list[tuple[Any, ...]]:
        return [
            (
                p["line"],
                p["column"],
                p["mainElementId"],
                p["\u0435lementIds"],
                p["message"] if p["message"].startswith(("cvc-id.1", "Invalid ")) else "schema",
            )
            for p in answer_.body["details"]["p.bpmn"]["errors"]
        ]

    assert problems(shim) == problems(engine)
    assert shim.body["message"].count("\n* ") == engine.body["message"].count("\n* ")
    assert pair.same("GET", "/deployment/count", params={"source": pair.tag}).body == {"count": 0}


# Deliberate deviations: each case checks that the difference is exactly the listed one.


def test_missing_resource_data_is_the_documented_404_not_the_engines_500(pair: Pair) -> None:
    engine_id, shim_id = pair.create({"d.bpmn": process(key(pair, "d"))})
    engine, shim = pair.each(
        "GET",
        (
            f"/deployment/{engine_id}/resources/nope/data",
            f"/deployment/{shim_id}/resources/nope/data",
        ),
    )
    assert (engine.status_code, engine.json()["type"], engine.json()["code"]) == (
        500,
        "NullValueException",
        0,
    )
    assert (shim.status_code, shim.json()["type"], shim.json()["code"]) == (
        404,
        "InvalidRequestException",
        None,
    )


def test_malformed_redeploy_json_is_always_the_engines_error_body(pair: Pair) -> None:
    # The engine answers this with either body, depending on which of its JSON readers saw
    # the request (Jackson's own message as text/plain, or its error body): the shim always
    # answers the error body.
    engine_id, shim_id = pair.create({"m.bpmn": process(key(pair, "m"))})
    engine, shim = pair.each(
        "POST",
        (f"/deployment/{engine_id}/redeploy", f"/deployment/{shim_id}/redeploy"),
        content=b"{bad",
        headers={"Content-Type": "application/json"},
    )
    body = {"type": "InvalidRequestException", "message": "", "code": None}
    assert engine.status_code == shim.status_code == 400
    if engine.headers["content-type"].startswith("application/json"):
        assert engine.json() == body
    else:
        assert engine.text.startswith("Unexpected character"), engine.text
    assert shim.json() == body


def test_a_bad_activation_time_is_a_400_not_the_engines_500(pair: Pair) -> None:
    form = {"deployment-source": pair.tag, "deployment-activation-time": "abc"}
    files = {"p.bpmn": ("p.bpmn", process(key(pair, "t")))}
    engine, shim = pair.both("POST", "/deployment/create", data=form, files=files)
    message = 'Invalid format: "abc"'
    assert engine == Answer(
        500, {"type": "IllegalArgumentException", "message": message, "code": None}
    )
    assert shim == Answer(
        400, {"type": "InvalidRequestException", "message": message, "code": None}
    )


def test_an_empty_tenant_id_is_no_tenant_not_the_engines_empty_one(pair: Pair) -> None:
    form = {"deployment-source": pair.tag, "tenant-id": ""}
    files = {"p.bpmn": ("p.bpmn", process(key(pair, "e")))}
    engine, shim = pair.both("POST", "/deployment/create", data=form, files=files)
    assert (engine.status, engine.body["tenantId"]) == (200, "")
    assert (shim.status, shim.body["tenantId"]) == (200, None)
    assert {**shim.body, "tenantId": ""} != engine.body  # the definitions show it too
    for answer_ in (engine, shim):
        for definition in answer_.body["deployedProcessDefinitions"].values():
            definition["tenantId"] = None
        answer_.body["tenantId"] = None
    assert shim == engine


def test_one_key_twice_in_a_deployment_is_a_400_not_the_engines_500(pair: Pair) -> None:
    twice = key(pair, "twice")
    files = {"a": ("a.bpmn", process(twice)), "b": ("b.bpmn", process(twice))}
    engine, shim = pair.both(
        "POST", "/deployment/create", files=files, data={"deployment-source": pair.tag}
    )
    message = (
        f"The deployment contains definitions with the same key '{twice}' (id attribute), "
        "this is not allowed"
    )
    assert engine == Answer(500, {"type": "ProcessEngineException", "message": message, "code": 0})
    assert shim == Answer(400, {"type": "NotValidException", "message": message, "code": 0})


def test_malformed_xml_is_a_parse_exception_not_the_engines_500(pair: Pair) -> None:
    form = {"deployment-source": pair.tag}
    files = {"p.bpmn": ("p.bpmn", b"not xml at all")}
    engine, shim = pair.both("POST", "/deployment/create", data=form, files=files)
    assert (engine.status, engine.body["type"], engine.body["code"]) == (
        500,
        "ProcessEngineException",
        0,
    )
    assert engine.body["message"].startswith("ENGINE-09003 Could not parse 'p.bpmn'.")
    assert (shim.status, shim.body["type"], shim.body["code"]) == (400, "ParseException", 0)


@pytest.mark.parametrize(
    ("name", "content", "engine_message"),
    [
        (
            "d.dmn",
            '<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="d" name="D" '
            'namespace="urn:fidelity">\n  <decision id="KEY" name="K"><bogus/></decision>\n'
            "</definitions>\n",
            "ENGINE-22004 Unable to transform DMN resource 'd.dmn'.",
        ),
        (
            "c.cmmn",
            '<definitions xmlns="http://www.omg.org/spec/CMMN/20151109/MODEL" id="d" '
            'targetNamespace="urn:fidelity">\n  <case id="KEY"><bogus/>'
            '<casePlanModel id="m"/></case>\n</definitions>\n',
            "ENGINE-04001 Could not transform resource 'c.cmmn'.",
        ),
    ],
)
def test_invalid_dmn_and_cmmn_are_a_parse_exception_not_the_engines_500(
    pair: Pair, name: str, content: str, engine_message: str
) -> None:
    form = {"deployment-source": pair.tag}
    body = content.replace("KEY", key(pair, "k")).encode()
    engine, shim = pair.both("POST", "/deployment/create", files={"r": (name, body)}, data=form)
    assert engine == Answer(
        500, {"type": "ProcessEngineException", "message": engine_message, "code": 0}
    )
    assert (shim.status, shim.body["type"], shim.body["code"]) == (400, "ParseException", 0)
    [problem] = shim.body["details"][name]["errors"]
    assert (problem["line"], "bogus" in problem["message"]) == (2, True)


# Named engines.


def test_an_unknown_named_engine_answers_alike_with_authentication_on(
    camunda7: RunningEngine, start_shim: Callable[..., ShimProcess]
) -> None:
    guarded = start_shim(auth_mode="kubernetes")
    with httpx.Client(timeout=60) as client:
        pair = Pair(
            Side("engine", client, f"{camunda7.url}/engine/no-such-engine"),
            Side("shim", client, guarded.engine("no-such-engine")),
            "unused",
        )
        # No credentials on either side: the engine's filter answers before checking them.
        for method, path in (
            ("GET", "/deployment/count"),
            ("GET", "/deployment"),
            ("GET", "/deployment/x/resources/y/data"),
            ("DELETE", "/deployment/x"),
            ("GET", "/nothing-here"),
        ):
            pair.same(method, path)
