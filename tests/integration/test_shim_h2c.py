"""Requests that offer an upgrade to h2c, as Java's built-in HttpClient sends by default.

The shim ignores the offer and serves each request whole as HTTP/1.1, in both dialects: a
Camunda create carried with `Upgrade: h2c` deploys its resource and answers 200 whether the body
comes with the head, after it, or chunked; a jBPM deploy with a malformed descriptor is refused
with its 400 and leaves no unit behind (the body used to be skipped, the deploy submitted with
none, and the caller answered 400). The same calls from Java's HttpClient itself, when Java is
installed.
"""

import http.client
import json
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from devcluster.processes import ShimProcess
from tests.support import jbpm
from tests.support.cluster import Cluster

JAVA_POST = Path(__file__).resolve().parents[1] / "support" / "java" / "JavaPost.java"
#: What Java's HttpClient adds to an HTTP/1.1 request on a plain http:// URL.
H2C_OFFER = (
    b"Connection: Upgrade, HTTP2-Settings\r\n"
    b"Upgrade: h2c\r\n"
    b"HTTP2-Settings: AAEAAEAAAAIAAAAAAAMAAAAAAAQBAAAAAAUAAEAAAAYABgAA\r\n"
)
BOUNDARY = "h2c-boundary"


@pytest.fixture(scope="module")
def shim(space: str, start_shim: Callable[..., ShimProcess]) -> ShimProcess:
    """A shim serving `space`, which the jBPM dialect addresses."""
    return start_shim(namespace=space)


def process(key: str) -> bytes:
    return (
        f'<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d-{key}" '
        f'targetNamespace="urn:h2c"><process id="{key}" isExecutable="true">'
        '<startEvent id="s"/></process></definitions>'
    ).encode()


def create_form(key: str) -> bytes:
    """A multipart create of one BPMN resource named after the process."""
    parts = [
        ('name="deployment-name"', b"h2c"),
        (f'name="data"; filename="{key}.bpmn"', process(key)),
    ]
    body = b"".join(
        f"--{BOUNDARY}\r\nContent-Disposition: form-data; {disposition}\r\n\r\n".encode()
        + content
        + b"\r\n"
        for disposition, content in parts
    )
    return body + f"--{BOUNDARY}--\r\n".encode()


def exchange(port: int, *pieces: bytes) -> tuple[int, bytes]:
    """Send the pieces (a little apart, so they arrive as separate reads) and read the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as conn:
        for piece in pieces:
            conn.sendall(piece)
            time.sleep(0.05)
        answer = http.client.HTTPResponse(conn)
        answer.begin()
        return answer.status, answer.read()


def post_head(path: str, content_type: str, framing: str) -> bytes:
    return (
        (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
            f"{framing}\r\n"
        ).encode()
        + H2C_OFFER
        + b"\r\n"
    )


def chunked(body: bytes) -> bytes:
    half = len(body) // 2
    return (
        b"".join(
            f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n" for chunk in (body[:half], body[half:])
        )
        + b"0\r\n\r\n"
    )


def assert_deployed(shim: ShimProcess, space: str, status: int, body: bytes, key: str) -> None:
    assert status == 200, body
    answer = json.loads(body)
    definitions = answer["deployedProcessDefinitions"]
    assert [d["key"] for d in definitions.values()] == [key], answer
    resources = httpx.get(f"{shim.engine(space)}/deployment/{answer['id']}/resources", timeout=30)
    assert [r["name"] for r in resources.json()] == [f"{key}.bpmn"]


@pytest.mark.parametrize("delivery", ["with-the-head", "after-the-head", "chunked"])
def test_a_camunda_create_offering_h2c_is_served_whole(
    shim: ShimProcess, space: str, delivery: str
) -> None:
    key = f"h2c_{uuid.uuid4().hex[:8]}"
    body = create_form(key)
    content_type = f"multipart/form-data; boundary={BOUNDARY}"
    path = f"/engine-rest/engine/{space}/deployment/create"
    pieces: tuple[bytes, ...]
    if delivery == "chunked":
        pieces = (post_head(path, content_type, "Transfer-Encoding: chunked"), chunked(body))
    else:
        head = post_head(path, content_type, f"Content-Length: {len(body)}")
        pieces = (head + body,) if delivery == "with-the-head" else (head, body)
    status, answer = exchange(shim.port, *pieces)
    assert_deployed(shim, space, status, answer, key)


def test_a_connection_stays_usable_after_a_request_offering_h2c(
    shim: ShimProcess, space: str
) -> None:
    key = f"h2c_{uuid.uuid4().hex[:8]}"
    body = create_form(key)
    create = post_head(
        f"/engine-rest/engine/{space}/deployment/create",
        f"multipart/form-data; boundary={BOUNDARY}",
        f"Content-Length: {len(body)}",
    )
    count = b"GET /engine-rest/deployment/count HTTP/1.1\r\nHost: x\r\n" + H2C_OFFER + b"\r\n"
    answers = []
    with socket.create_connection(("127.0.0.1", shim.port), timeout=60) as conn:
        # One after the other on a kept-alive connection: each reader buffers what it reads.
        for request in (create + body, count):
            conn.sendall(request)
            answer = http.client.HTTPResponse(conn)
            answer.begin()
            answers.append((answer.status, answer.read()))
    (created_status, created), (count_status, counted) = answers
    assert_deployed(shim, space, created_status, created, key)
    assert count_status == 200, counted
    assert "count" in json.loads(counted)


def units(cluster: Cluster, namespace: str) -> list[str]:
    return cluster.kubectl("get", "du", "-n", namespace, "-o", "name").stdout.split()


def test_a_refused_jbpm_deploy_offering_h2c_takes_no_effect(
    shim: ShimProcess, cluster: Cluster, space: str
) -> None:
    deployment_id = f"org.acme.h2c{uuid.uuid4().hex[:8]}:kjar:1.0"
    descriptor = b"<deployment-descriptor>"
    head = post_head(
        f"{jbpm.PREFIX}/deployment/{deployment_id}/deploy",
        "application/xml",
        f"Content-Length: {len(descriptor)}",
    )
    before = units(cluster, space)
    status, answer = exchange(shim.port, head, descriptor)
    assert status == 400, answer
    time.sleep(1)  # a job submitted anyway would have created its unit by now
    assert units(cluster, space) == before


java = pytest.mark.skipif(shutil.which("java") is None, reason="Java is not installed")


def java_post(url: str, content_type: str, body: bytes, tmp_path: Path) -> tuple[int, str]:
    """POST with Java's HttpClient in its default configuration (it offers h2c)."""
    payload = tmp_path / "body"
    payload.write_bytes(body)
    done = subprocess.run(
        ["java", str(JAVA_POST), url, content_type, str(payload)],
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    )
    status, _, answer = done.stdout.partition("\n")
    return int(status), answer


@java
def test_java_httpclient_creates_and_is_refused_as_any_client(
    shim: ShimProcess, cluster: Cluster, space: str, tmp_path: Path
) -> None:
    key = f"java_{uuid.uuid4().hex[:8]}"
    status, answer = java_post(
        f"{shim.engine(space)}/deployment/create",
        f"multipart/form-data; boundary={BOUNDARY}",
        create_form(key),
        tmp_path,
    )
    assert_deployed(shim, space, status, answer.encode(), key)

    before = units(cluster, space)
    deployment_id = f"org.acme.java{uuid.uuid4().hex[:8]}:kjar:1.0"
    status, answer = java_post(
        f"{shim.url}{jbpm.PREFIX}/deployment/{deployment_id}/deploy",
        "application/xml",
        b"<deployment-descriptor>",
        tmp_path,
    )
    assert status == 400, answer
    time.sleep(1)
    assert units(cluster, space) == before
