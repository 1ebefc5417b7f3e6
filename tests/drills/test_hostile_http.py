"""Hostile requests over real HTTP to a shim with the operator running, in both dialects.

Categories: oversize bodies, slow and stalled clients, path-traversal names, odd unicode and a
deployment of 10,000 resources. Every refused request must get a clear 4xx in the caller's
dialect (Camunda's `{"type", "message"}` JSON, jBPM's `<exception>` XML or the JAX-RS runtime's
bare status), neither process may die, and a refused request may leave nothing behind: no
DeploymentUnit, no snapshot ConfigMap, no job record in the jBPM ledger.
"""

import contextlib
import json
import socket
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from deployunits import constants
from deployunits.api.jbpm.queue import LEDGER_NAME, Ledger
from devcluster.processes import OperatorProcess, ShimProcess
from tests.drills.figures import Figures
from tests.support.cluster import Cluster

DRILL = "hostile-input"
JBPM = "/business-central/rest"
#: Kept small so the drill sends little while still crossing the limit; the check is the same.
MAX_REQUEST_BYTES = 2 * 1024 * 1024
MAX_RESOURCE_BYTES = 1024 * 1024
HEADER_TIMEOUT = 3.0
BODY_TIMEOUT = 5.0
#: The operator's default resource limit per unit and the CRD's bound on snapshot references.
MAX_RESOURCES = 10_000
SNAPSHOTS = f"-l{constants.SNAPSHOT_LABEL}"
#: What this drill found while it was built, each fixed with a regression test.
FOUND_AND_FIXED = [
    "a refused upload left the snapshots of its other resources behind",
    "a unit the CRD refused (tenant id, name) left its upload's snapshots behind",
    "over 10,000 resources wrote 10,001 snapshots before the CRD refused the unit",
    "a 10,000-resource unit's status was too large for etcd: retried forever, 503 after 30 s",
    "clients stalling in a request's head or body held their connection forever",
    "a kjar missing its first byte raised ValueError instead of ArchiveError",
]


def bpmn(key: str) -> bytes:
    return (
        '<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" '
        f'targetNamespace="urn:x"><process id="{key}" isExecutable="true">'
        '<startEvent id="s"/></process></definitions>'
    ).encode()


@dataclass
class Tally:
    """Answers per category, and every 5xx seen (there must be none)."""

    requests: Counter[str] = field(default_factory=Counter)
    client_errors: int = 0
    server_errors: list[str] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)
    #: Times the shim or the operator was found dead after a test.
    crashes: int = 0

    def seen(self, category: str, response: httpx.Response, what: str) -> None:
        self.requests[category] += 1
        if 400 <= response.status_code < 500:
            self.client_errors += 1
        if response.status_code >= 500:
            self.server_errors.append(f"{what}: {response.status_code} {response.text[:300]}")


@pytest.fixture(scope="module")
def shim(space: str, start_shim: Callable[..., ShimProcess]) -> ShimProcess:
    """A shim serving `space`: the default engine and the jBPM dialect address it."""
    return start_shim(
        namespace=space,
        env={
            "DEPLOYUNITS_MAVEN_REPOSITORY": "http://127.0.0.1:9/maven2",
            "DEPLOYUNITS_MAX_REQUEST_BYTES": str(MAX_REQUEST_BYTES),
            "DEPLOYUNITS_MAX_RESOURCE_BYTES": str(MAX_RESOURCE_BYTES),
            "DEPLOYUNITS_REQUEST_HEADER_TIMEOUT_SECONDS": str(HEADER_TIMEOUT),
            "DEPLOYUNITS_REQUEST_BODY_TIMEOUT_SECONDS": str(BODY_TIMEOUT),
        },
    )


@pytest.fixture(scope="module")
def tally(figures: Figures) -> Iterator[Tally]:
    found = Tally()
    yield found
    for category, count in sorted(found.requests.items()):
        figures.record(DRILL, f"http requests: {category}", count)
    figures.record(DRILL, "http 4xx answers", found.client_errors)
    figures.record(DRILL, "http 5xx answers", len(found.server_errors))
    figures.record(DRILL, "http leftovers", len(found.leftovers))
    figures.record(DRILL, "crashes (shim or operator died)", found.crashes)
    figures.record(DRILL, "failures found and fixed", len(FOUND_AND_FIXED))


@pytest.fixture
def client(shim: ShimProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=shim.url, timeout=120) as http:
        yield http


@pytest.fixture(autouse=True)
def still_healthy(shim: ShimProcess, operator: OperatorProcess, tally: Tally) -> Iterator[None]:
    """After every test: no 5xx so far, both processes alive and answering /healthz."""
    yield
    shim_alive = shim.popen is not None and shim.popen.poll() is None
    operator_alive = operator.popen is not None and operator.popen.poll() is None
    tally.crashes += (not shim_alive) + (not operator_alive)
    assert not tally.server_errors, "\n".join(tally.server_errors) + "\n" + shim.tail(40)
    assert shim_alive, shim.tail(60)
    assert operator_alive, operator.tail(60)
    with httpx.Client(timeout=10) as http:
        assert http.get(f"{shim.url}/healthz").status_code == 200
        assert http.get(f"http://127.0.0.1:{operator.probe_port}/healthz").status_code == 200


def objects(cluster: Cluster, namespace: str) -> dict[str, list[str]]:
    """What a request may create: units, snapshot ConfigMaps and jBPM job records."""
    units = cluster.kubectl("get", "du", "-n", namespace, "-o", "name").stdout.split()
    snaps = cluster.kubectl("get", "cm", "-n", namespace, SNAPSHOTS, "-o", "name").stdout.split()
    ledger = cluster.kubectl("get", "cm", LEDGER_NAME, "-n", namespace, "-o", "json", check=False)
    records: list[str] = []
    if ledger.returncode == 0:
        records = sorted(Ledger.parse(json.loads(ledger.stdout)).records)
    return {"units": units, "snapshots": snaps, "records": records}


def assert_nothing_left(cluster: Cluster, namespace: str, tally: Tally, what: str) -> None:
    """Refused requests leave nothing; a discarded unit may take a moment to be finalized."""
    deadline = time.monotonic() + 60
    found = objects(cluster, namespace)
    while any(found.values()) and time.monotonic() < deadline:
        time.sleep(0.5)
        found = objects(cluster, namespace)
    if any(found.values()):
        tally.leftovers.append(f"{what}: {found}")
    assert not any(found.values()), f"{what} left objects behind: {found}"


def camunda_refusal(tally: Tally, category: str, response: httpx.Response, what: str) -> None:
    """A 4xx with Camunda's error body."""
    tally.seen(category, response, what)
    _camunda_error_body(response, what)


def accepted_or_refused(tally: Tally, category: str, response: httpx.Response, what: str) -> bool:
    """Whether an upload that may be valid was stored (200); otherwise a Camunda 4xx."""
    tally.seen(category, response, what)
    if response.status_code == 200:
        return True
    _camunda_error_body(response, what)
    return False


def _camunda_error_body(response: httpx.Response, what: str) -> None:
    assert 400 <= response.status_code < 500, f"{what}: {response.status_code} {response.text}"
    body = response.json()
    assert isinstance(body, dict) and {"type", "message"} <= body.keys(), (what, body)
    assert isinstance(body["type"], str) and body["type"], (what, body)


def jbpm_refusal(tally: Tally, category: str, response: httpx.Response, what: str) -> None:
    """A refusal in jBPM's shape: a 4xx with `<exception>` XML or the JAX-RS runtime's bare
    status, or, for a deploy or undeploy job, the engine's 202 with success false."""
    tally.seen(category, response, what)
    if response.status_code == 202:
        assert "<success>false</success>" in response.text, (what, response.text[:300])
        tally.client_errors += 1  # a refusal all the same
        return
    assert 400 <= response.status_code < 500, f"{what}: {response.status_code} {response.text}"
    if response.content:
        assert "<exception>" in response.text, (what, response.text[:300])


def upload(
    client: httpx.Client, namespace: str, resources: list[tuple[str, bytes]], **fields: str
) -> httpx.Response:
    files = [(f"r{i}", (name, content)) for i, (name, content) in enumerate(resources)]
    return client.post(
        f"/engine-rest/engine/{namespace}/deployment/create", data=fields, files=files
    )


# Oversize bodies.


@pytest.mark.timeout(300)
def test_oversize_bodies_are_refused_in_the_dialect(
    client: httpx.Client, cluster: Cluster, namespace: str, tally: Tally, figures: Figures
) -> None:
    category = "oversize"
    too_big = b"x" * (MAX_REQUEST_BYTES + 1)
    response = upload(client, namespace, [("big.bpmn", too_big)])
    camunda_refusal(tally, category, response, "upload over the request limit")
    assert response.status_code == 413

    # Without Content-Length (chunked): refused while streaming, not after buffering it all.
    def chunks() -> Iterator[bytes]:
        boundary = b'--b\r\nContent-Disposition: form-data; name="d"; filename="c.bpmn"\r\n\r\n'
        yield boundary
        for _ in range(MAX_REQUEST_BYTES // 65536 + 2):
            yield b"y" * 65536

    response = client.post(
        f"/engine-rest/engine/{namespace}/deployment/create",
        content=chunks(),
        headers={"Content-Type": "multipart/form-data; boundary=b"},
    )
    camunda_refusal(tally, category, response, "chunked upload over the request limit")
    assert response.status_code == 413

    # Within the request limit, but one resource over the per-resource limit.
    resource_limit = MAX_RESOURCE_BYTES
    response = upload(
        client,
        namespace,
        [("fine.bpmn", bpmn("fine")), ("huge.bpmn", b"<a>" + b" " * resource_limit + b"</a>")],
    )
    camunda_refusal(tally, category, response, "a resource over the per-resource limit")

    response = client.post(
        f"/engine-rest/engine/{namespace}/deployment/some-id/redeploy",
        content=b"[" + b"1," * MAX_REQUEST_BYTES + b"1]",
        headers={"Content-Type": "application/json"},
    )
    camunda_refusal(tally, category, response, "redeploy body over the limit")
    assert response.status_code == 413

    descriptor = b"<deployment-descriptor>" + b" " * (1024 * 1024) + b"</deployment-descriptor>"
    response = client.post(
        f"{JBPM}/deployment/org.acme:big:1.0/deploy",
        content=descriptor,
        headers={"Content-Type": "application/xml"},
    )
    jbpm_refusal(tally, category, response, "deployment descriptor over 1 MiB")
    assert response.status_code == 413

    # Headers and URLs beyond what the HTTP parser buffers.
    huge_header = {"X-Filler": "h" * 2_000_000}
    response = client.get(f"/engine-rest/engine/{namespace}/deployment", headers=huge_header)
    tally.seen(category, response, "a 2 MB header")
    assert 400 <= response.status_code < 500
    response = client.get(f"{JBPM}/deployment/?{'q' * 60_000}=1")
    tally.seen(category, response, "a 60 kB query string")
    assert response.status_code < 500  # an unknown parameter, ignored as the engine does
    assert_nothing_left(cluster, namespace, tally, category)
    default_engine = client.get("/engine-rest/deployment/count").json()
    assert default_engine == {"count": 0}


# Slow and stalled clients.


def _open(shim: ShimProcess) -> socket.socket:
    conn = socket.create_connection(("127.0.0.1", shim.port), timeout=30)
    conn.settimeout(0.2)
    return conn


def _closed_within(conn: socket.socket, seconds: float) -> tuple[bool, bytes]:
    """Whether the server closed the connection in time, and what it said before."""
    answer = bytearray()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            data = conn.recv(65536)
        except TimeoutError:
            continue
        except OSError:
            return True, bytes(answer)
        if not data:
            return True, bytes(answer)
        answer += data
    return False, bytes(answer)


@pytest.mark.timeout(300)
def test_slow_clients_are_timed_out_without_blocking_others(
    shim: ShimProcess, client: httpx.Client, cluster: Cluster, tally: Tally, figures: Figures
) -> None:
    category = "slow clients"
    space = shim.namespace
    head = (
        f"POST /engine-rest/deployment/create HTTP/1.1\r\nHost: 127.0.0.1:{shim.port}\r\n"
        "Content-Type: multipart/form-data; boundary=b\r\n"
    ).encode()
    silent = [_open(shim) for _ in range(3)]
    dripping = [_open(shim) for _ in range(3)]
    stalled_body = [_open(shim) for _ in range(2)]
    jbpm_body = _open(shim)
    for conn in dripping:
        conn.sendall(head[:20])
    for conn in stalled_body:
        conn.sendall(head + b"Content-Length: 100000\r\n\r\n--b\r\nContent-Disp")
    jbpm_body.sendall(
        f"POST {JBPM}/deployment/org.acme:slow:1.0/deploy HTTP/1.1\r\nHost: x\r\n"
        "Content-Type: application/xml\r\nContent-Length: 5000\r\n\r\n<deployment-".encode()
    )
    started = time.monotonic()
    # Meanwhile others are served promptly, and the dripping clients keep sending.
    slowest = 0.0
    sent = 20
    while time.monotonic() - started < HEADER_TIMEOUT + BODY_TIMEOUT + 2:
        before = time.monotonic()
        response = client.get("/engine-rest/deployment/count", timeout=10)
        slowest = max(slowest, time.monotonic() - before)
        tally.seen(category, response, "a normal request next to slow clients")
        assert response.status_code == 200
        for conn in dripping:
            if sent < len(head):
                with contextlib.suppress(OSError):  # the server may have cut it off already
                    conn.sendall(head[sent : sent + 1])
        sent += 1
        time.sleep(0.5)
    figures.record(DRILL, "slowest normal request next to slow clients (s)", slowest)
    assert slowest < 5, "slow clients held up a normal request"

    grace = 10.0
    cut_off = 0
    for kind, conns, limit in (
        ("silent", silent, HEADER_TIMEOUT),
        ("dripping headers", dripping, HEADER_TIMEOUT),
        ("stalled body", stalled_body, BODY_TIMEOUT),
        ("stalled jBPM body", [jbpm_body], BODY_TIMEOUT),
    ):
        for conn in conns:
            tally.requests[category] += 1
            closed, answer = _closed_within(
                conn, max(limit + grace - (time.monotonic() - started), 1)
            )
            conn.close()
            assert closed, f"a {kind} client was not timed out after {limit}s"
            cut_off += 1
            status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0
            assert status < 500, f"a {kind} client got {answer[:200]!r}"
            if status:
                tally.client_errors += 1
            if kind == "stalled body":
                assert status == 408, answer[:300]
                assert b'"type"' in answer and b'"message"' in answer, answer[:300]
            if kind == "stalled jBPM body":
                assert status == 408, answer[:300]
    figures.record(DRILL, "slow clients timed out", cut_off)
    assert_nothing_left(cluster, space, tally, category)


# Path-traversal names.

TRAVERSAL_NAMES = [
    "../x.bpmn",
    "/etc/passwd",
    "a/../../b.bpmn",
    "..\\..\\windows.bpmn",
    "C:x.bpmn",
    "./a.bpmn",
    "a//b.bpmn",
    "a/./b.bpmn",
    "..",
    "%2e%2e/x.bpmn",
]


@pytest.mark.timeout(300)
def test_path_traversal_names_are_refused(
    client: httpx.Client, shim: ShimProcess, cluster: Cluster, namespace: str, tally: Tally
) -> None:
    category = "path traversal"
    for name in TRAVERSAL_NAMES:
        response = upload(client, namespace, [(name, bpmn("trav"))])
        if accepted_or_refused(tally, category, response, f"resource name {name!r}"):
            # Only names that are harmless after decoding may pass; they stay relative.
            stored = client.get(
                f"/engine-rest/engine/{namespace}/deployment/{response.json()['id']}/resources"
            ).json()
            assert all(
                not r["name"].startswith("/") and ".." not in r["name"].split("/") for r in stored
            ), stored

    # Ids and engine names that try to leave their path segment.
    for path in (
        "/engine-rest/deployment/..%2F..%2Fetc%2Fpasswd",
        "/engine-rest/deployment/x/resources/..%2F..%2Fsecret",
        "/engine-rest/deployment/x/resources/%2Fetc%2Fpasswd/data",
        "/engine-rest/engine/..%2Fkube-system/deployment",
        "/engine-rest/engine/kube-system%2F../deployment/count",
    ):
        response = client.get(path)
        camunda_refusal(tally, category, response, path)
    for path in (
        f"{JBPM}/deployment/..%2F..%2Fetc:passwd:1",
        f"{JBPM}/deployment/org.acme:..%2Fx:1.0/deploy",
        f"{JBPM}/deployment/org.acme:x:..%2F..%2F1/processes",
    ):
        method = "POST" if path.endswith("deploy") else "GET"
        jbpm_refusal(tally, category, client.request(method, path), path)
    units = cluster.kubectl("get", "du", "-n", namespace, "-o", "name").stdout.split()
    for unit in units:
        cluster.kubectl("delete", "-n", namespace, unit, "--wait=true", timeout=120)
    assert_nothing_left(cluster, namespace, tally, category)
    assert_nothing_left(cluster, shim.namespace, tally, f"{category} (jBPM)")


# Odd unicode.

ODD_TEXT = [
    "nul\x00inside",
    "\u202eevil\u202c.bpmn",
    "\u200f\u200e\u2066rtl",
    "emoji \U0001f680\U0001f9e8",
    "zalgo z\u0335\u0321\u0358a\u0334\u0327l",
    "\ufeffbom",
    "x" * 5000,
]


def _multipart(fields: list[tuple[bytes, bytes | None, bytes]]) -> tuple[bytes, str]:
    """A form from raw bytes (names, file names and values that no encoder would produce)."""
    body = bytearray()
    for name, filename, value in fields:
        body += b'--B\r\nContent-Disposition: form-data; name="' + name + b'"'
        if filename is not None:
            body += b'; filename="' + filename + b'"'
        body += b"\r\n\r\n" + value + b"\r\n"
    body += b"--B--\r\n"
    return bytes(body), "multipart/form-data; boundary=B"


@pytest.mark.timeout(400)
def test_odd_unicode_is_refused_or_stored_whole(
    client: httpx.Client,
    shim: ShimProcess,
    cluster: Cluster,
    namespace: str,
    tally: Tally,
    figures: Figures,
) -> None:
    category = "odd unicode"
    create = f"/engine-rest/engine/{namespace}/deployment/create"
    accepted = 0
    for index, text in enumerate(ODD_TEXT):
        for field_name in ("deployment-name", "tenant-id", "deployment-source"):
            response = upload(
                client, namespace, [(f"u{index}.bpmn", bpmn(f"u{index}"))], **{field_name: text}
            )
            what = f"{field_name} {text[:40]!r}"
            if accepted_or_refused(tally, category, response, what):
                accepted += 1
                answered = {"deployment-name": "name", "tenant-id": "tenantId"}
                key = answered.get(field_name, "source")
                assert response.json()[key] == text, (what, response.json()[key])
        # The same text as a resource name.
        response = upload(client, namespace, [(text + ".bpmn", bpmn(f"n{index}"))])
        what = f"resource name {text[:40]!r}"
        accepted += accepted_or_refused(tally, category, response, what)
    # Bytes that are no UTF-8 at all: a lone surrogate (CESU-8), an overlong NUL, stray bytes.
    for raw in (b"\xed\xa0\x80", b"\xc0\x80", b"\xff\xfe\xfd", b"a\x00b"):
        for fields in (
            [(b"deployment-name", None, raw), (b"d", b"raw.bpmn", bpmn("raw"))],
            [(b"tenant-id", None, raw), (b"d", b"raw.bpmn", bpmn("raw"))],
            [(b"d", raw + b".bpmn", bpmn("raw"))],
            [(raw, b"f.bpmn", bpmn("raw"))],
        ):
            body, content_type = _multipart(fields)
            response = client.post(create, content=body, headers={"Content-Type": content_type})
            what = f"raw {raw!r} in {fields[0][0]!r}"
            accepted += accepted_or_refused(tally, category, response, what)
    # In paths and queries of both dialects.
    for text in ["\U0001f680", "\u202e", "%00", "%ED%A0%80", "%FF", "x" * 3000]:
        for path in (
            f"/engine-rest/engine/{namespace}/deployment/{text}",
            f"/engine-rest/engine/{namespace}/deployment/{text}/resources",
            f"/engine-rest/engine/{text}/deployment",
        ):
            camunda_refusal(tally, category, client.get(path), path[:80])
        for query in ("name", "tenantIdIn", "nameLike", "sortBy"):
            response = client.get(
                f"/engine-rest/engine/{namespace}/deployment", params={query: text}
            )
            tally.seen(category, response, f"query {query}={text[:20]!r}")
            assert response.status_code < 500
        unit_path = f"{JBPM}/deployment/org.acme:{text}:1.0"
        response = client.get(unit_path)
        if text.isalnum():  # a valid id: the engine describes ids it does not know
            tally.seen(category, response, unit_path[:80])
            assert response.status_code == 200, response.text[:300]
        else:
            jbpm_refusal(tally, category, response, unit_path[:80])
        jbpm_refusal(
            tally, category, client.post(f"{unit_path}/deploy"), f"{unit_path[:80]}/deploy"
        )
        response = client.get(f"{JBPM}/deployment/", params={"page": text})
        jbpm_refusal(tally, category, response, f"jBPM page={text[:20]!r}")
    figures.record(DRILL, "odd unicode uploads stored whole", accepted)
    assert accepted >= 1, "plain emoji names should be stored"
    for unit in cluster.kubectl("get", "du", "-n", namespace, "-o", "name").stdout.split():
        cluster.kubectl("delete", "-n", namespace, unit, "--wait=true", timeout=120)
    assert_nothing_left(cluster, namespace, tally, category)
    assert_nothing_left(cluster, shim.namespace, tally, f"{category} (jBPM)")


# Ten thousand resources.


def _many(count: int) -> tuple[bytes, str]:
    """A form of `count` small distinct-named resources with one shared content."""
    content = b"rule text"
    parts = [(b"deployment-name", None, b"many")]
    parts += [(f"r{i}".encode(), f"r{i}.txt".encode(), content) for i in range(count)]
    return _multipart(parts)


@pytest.mark.timeout(600)
def test_ten_thousand_resources_are_handled_and_more_are_refused(
    client: httpx.Client, cluster: Cluster, namespace: str, tally: Tally, figures: Figures
) -> None:
    category = "10,000 resources"
    create = f"/engine-rest/engine/{namespace}/deployment/create"
    body, content_type = _many(MAX_RESOURCES + 1)
    response = client.post(create, content=body, headers={"Content-Type": content_type})
    camunda_refusal(tally, category, response, f"{MAX_RESOURCES + 1} resources")
    assert str(MAX_RESOURCES) in response.json()["message"], response.text
    assert_nothing_left(cluster, namespace, tally, category)

    body, content_type = _many(MAX_RESOURCES)
    started = time.monotonic()
    response = client.post(create, content=body, headers={"Content-Type": content_type})
    stored = accepted_or_refused(tally, category, response, f"{MAX_RESOURCES} resources")
    figures.record(DRILL, "10,000-resource deployment answered in (s)", time.monotonic() - started)
    figures.record(DRILL, "10,000-resource deployment status", response.status_code)
    if stored:
        deployment = response.json()["id"]
        listed = client.get(f"/engine-rest/engine/{namespace}/deployment/{deployment}/resources")
        tally.seen(category, listed, "resources of the 10,000-resource deployment")
        assert listed.status_code == 200 and len(listed.json()) == MAX_RESOURCES
        deleted = client.delete(f"/engine-rest/engine/{namespace}/deployment/{deployment}")
        tally.seen(category, deleted, "delete of the 10,000-resource deployment")
        assert deleted.status_code == 204
    else:
        # Within the count limit, but more than the API server stores in one object: the
        # refusal must say so rather than time out.
        assert "larger than the API server stores" in response.json()["message"], response.text
    assert_nothing_left(cluster, namespace, tally, category)


def test_shim_log_has_no_unexpected_errors(shim: ShimProcess) -> None:
    """Every refusal above was a decision, not a crash caught by the last-resort handler."""
    assert shim.popen is not None and shim.popen.poll() is None, shim.tail(40)
    log = shim.log.read_text(errors="replace")
    assert "unexpected error" not in log, shim.tail(80)
    assert "Traceback" not in log, shim.tail(80)
