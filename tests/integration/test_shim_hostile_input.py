"""Regressions found by the hostile-input drill, against a shim subprocess and the operator.

A refused upload leaves no snapshot behind (one content refused by the API server, or a unit
the CRD refuses after its snapshots were written); an upload over the resource-count limit is
refused before anything is written; clients that stall in a request's head or body are cut
off with a 408 in their dialect instead of holding their connection forever; a request head up
to the limit is served however it arrives, and one over it is answered 431 and cut off.
"""

import random
import socket
import time
from collections.abc import Callable

import httpx
import pytest

from deployunits.settings import ShimSettings
from devcluster.processes import ShimProcess
from tests.support.cluster import Cluster
from tests.support.stored import assert_nothing_stored
from tests.support.stored import stored_objects as stored

MAX_RESOURCES = 5
HEADER_TIMEOUT = 1.0
BODY_TIMEOUT = 2.0
#: The shim's default limit on a request head.
MAX_HEAD: int = ShimSettings.model_fields["max_request_head_bytes"].default
BPMN = (
    b'<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" '
    b'targetNamespace="urn:x"><process id="p" isExecutable="true"/></definitions>'
)


@pytest.fixture(scope="module")
def shim(start_shim: Callable[..., ShimProcess]) -> ShimProcess:
    return start_shim(
        env={
            "DEPLOYUNITS_MAX_RESOURCES_PER_DEPLOYMENT": str(MAX_RESOURCES),
            "DEPLOYUNITS_REQUEST_HEADER_TIMEOUT_SECONDS": str(HEADER_TIMEOUT),
            "DEPLOYUNITS_REQUEST_BODY_TIMEOUT_SECONDS": str(BODY_TIMEOUT),
        }
    )


@pytest.mark.parametrize(
    ("resources", "fields"),
    [
        # The CRD refuses the tenant id after every snapshot was written.
        ({"a.bpmn": BPMN}, {"tenant-id": "\U0001f680"}),
        # The same, with a content split over several ConfigMaps (noise does not shrink): its
        # parts go with the index the shim removes.
        ({"a.bpmn": BPMN, "b.png": random.randbytes(2 * 1024 * 1024)}, {"tenant-id": "\U0001f680"}),
    ],
    ids=["tenant-refused-by-the-crd", "split-content-refused-by-the-crd"],
)
def test_a_refused_upload_leaves_no_snapshot(
    shim: ShimProcess,
    cluster: Cluster,
    namespace: str,
    resources: dict[str, bytes],
    fields: dict[str, str],
) -> None:
    files = [(f"r{i}", (name, content)) for i, (name, content) in enumerate(resources.items())]
    response = httpx.post(
        f"{shim.engine(namespace)}/deployment/create", data=fields, files=files, timeout=60
    )
    assert response.status_code == 400, response.text
    assert response.json()["type"] == "InvalidRequestException"
    assert_nothing_stored(cluster, namespace)


def test_more_resources_than_the_limit_are_refused_before_anything_is_stored(
    shim: ShimProcess, cluster: Cluster, namespace: str
) -> None:
    files = [(f"r{i}", (f"r{i}.txt", f"{i}".encode())) for i in range(MAX_RESOURCES + 1)]
    response = httpx.post(f"{shim.engine(namespace)}/deployment/create", files=files, timeout=60)
    assert response.status_code == 400, response.text
    assert response.json()["message"] == (
        f"The deployment has {MAX_RESOURCES + 1} resources, more than the limit of {MAX_RESOURCES}."
    )
    assert stored(cluster, namespace) == []


def answer_before_close(shim: ShimProcess, sent: bytes, within: float) -> bytes:
    """Send `sent`, then read until the server closes the connection (fail after `within`)."""
    with socket.create_connection(("127.0.0.1", shim.port), timeout=within) as conn:
        conn.sendall(sent)
        answer = bytearray()
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            data = conn.recv(65536)
            if not data:
                return bytes(answer)
            answer += data
    raise AssertionError(f"the connection stayed open for {within}s; got {bytes(answer)!r}")


@pytest.mark.timeout(120)
def test_stalled_clients_are_cut_off_with_a_408(shim: ShimProcess) -> None:
    started = time.monotonic()
    answer = answer_before_close(shim, b"GET /engine-rest/deployment HTTP/1.1\r\nHost:", 15)
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert time.monotonic() - started < HEADER_TIMEOUT + 10

    head = (
        b"POST /engine-rest/deployment/create HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 1000\r\n\r\n--b\r\n"
    )
    answer = answer_before_close(shim, head, 20)
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert b'"type":"WebApplicationException"' in answer, answer

    jbpm = (
        b"POST /business-central/rest/deployment/org.acme:a:1.0/deploy HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/xml\r\nContent-Length: 1000\r\n\r\n<deployment"
    )
    answer = answer_before_close(shim, jbpm, 20)
    assert answer.startswith(b"HTTP/1.1 408 "), answer

    # The shim still serves everyone else.
    assert httpx.get(f"{shim.url}/healthz", timeout=10).status_code == 200


@pytest.mark.timeout(60)
def test_a_stalled_head_on_a_kept_alive_connection_is_cut_off_with_a_408(
    shim: ShimProcess,
) -> None:
    # The deadline starts again with the next request's first bytes, not with the connection.
    with socket.create_connection(("127.0.0.1", shim.port), timeout=15) as conn:
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        first = bytearray()
        # The head and the body of the answer may come in separate reads.
        while not first.endswith(b"\r\n\r\nok"):
            data = conn.recv(65536)
            assert data, f"closed after {bytes(first)!r}"
            first += data
        assert first.startswith(b"HTTP/1.1 200 "), first
        time.sleep(HEADER_TIMEOUT + 0.5)
        started = time.monotonic()
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHo")
        answer = bytearray()
        while data := conn.recv(65536):
            answer += data
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert HEADER_TIMEOUT - 0.2 < time.monotonic() - started < HEADER_TIMEOUT + 10


def request_head(size: int, *, ended: bool = True) -> bytes:
    """A GET of the shim's count whose head is `size` bytes long, most of it one header."""
    start = b"GET /engine-rest/deployment/count HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
    end = b"\r\n\r\n" if ended else b""
    head = start + b"X-Padding: " + b"x" * (size - len(start) - len(b"X-Padding: ") - len(end))
    return head + end


def send_in_pieces(conn: socket.socket, data: bytes, piece: int) -> None:
    for start in range(0, len(data), piece):
        conn.sendall(data[start : start + piece])
        time.sleep(0.02)


@pytest.mark.parametrize("size", [60_000, MAX_HEAD])
@pytest.mark.parametrize("piece", [8000, MAX_HEAD], ids=["in-pieces", "at-once"])
def test_a_large_request_head_is_served_however_it_arrives(
    shim: ShimProcess, size: int, piece: int
) -> None:
    # 60 KB of headers (a long token) sent in pieces: the HTTP parser used to refuse a head
    # over 16 KiB when it took more than one read, and closed the connection on the sender.
    # A head of exactly the limit is served too.
    with socket.create_connection(("127.0.0.1", shim.port), timeout=20) as conn:
        send_in_pieces(conn, request_head(size), piece)
        answer = conn.recv(65536)
    assert answer.startswith(b"HTTP/1.1 200 "), answer


@pytest.mark.parametrize(
    ("head", "piece"),
    [
        # The limit is passed in the middle of a piece, and the head ends after it.
        (request_head(MAX_HEAD + 1000), 8000),
        # The head has not ended by the limit: it cannot be served, whatever follows.
        (request_head(MAX_HEAD, ended=False), MAX_HEAD),
    ],
    ids=["in-pieces", "at-once"],
)
def test_a_request_head_over_the_limit_gets_a_431_and_is_cut_off(
    shim: ShimProcess, head: bytes, piece: int
) -> None:
    with socket.create_connection(("127.0.0.1", shim.port), timeout=20) as conn:
        send_in_pieces(conn, head, piece)
        answer = bytearray()
        # The shim closes the connection after its answer: recv() sees the end of the stream.
        while data := conn.recv(65536):
            answer += data
    assert answer.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"), answer
    assert b"connection: close\r\n" in answer
    assert answer.endswith(f"larger than {MAX_HEAD} bytes.".encode()), answer

    # The shim still serves everyone else.
    assert httpx.get(f"{shim.url}/healthz", timeout=10).status_code == 200
