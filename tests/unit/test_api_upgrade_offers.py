"""The shim's HTTP protocol ignores offers to upgrade (`Upgrade: h2c`), over a real socket.

An echo application behind the protocol shows what each request delivered: bodies of fixed
length and chunked, sent with the head or after it, a request without a body, and requests
pipelined behind one that offered an upgrade, each delivered whole and answered in order.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from starlette.types import Receive, Scope, Send

from deployunits.api.timeouts import head_limited_protocol
from devcluster.plane import free_port

OFFER = (
    b"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n"
)


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers `<method> <path> <body>`."""
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    text = f"{scope['method']} {scope['path']} ".encode() + body
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-length", str(len(text)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": text})


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    chosen = free_port()
    config = uvicorn.Config(
        echo,
        host="127.0.0.1",
        port=chosen,
        http=head_limited_protocol(10, 64 * 1024),
        log_config=None,
        lifespan="off",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    yield chosen
    server.should_exit = True
    thread.join(10)


def bodies(port: int, *pieces: bytes, answers: int) -> list[bytes]:
    """Send the pieces a little apart; the bodies of the first `answers` answers."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        for piece in pieces:
            conn.sendall(piece)
            time.sleep(0.05)
        stream = conn.makefile("rb")
        found = []
        for _ in range(answers):
            assert stream.readline().startswith(b"HTTP/1.1 200 ")
            length = 0
            while (line := stream.readline()) != b"\r\n":
                name, _, value = line.partition(b":")
                if name.lower() == b"content-length":
                    length = int(value)
            found.append(stream.read(length))
        return found


def post(body: bytes, framing: bytes | None = None) -> bytes:
    framing = framing or b"Content-Length: %d\r\n" % len(body)
    return b"POST /p HTTP/1.1\r\nHost: x\r\n" + framing + OFFER + b"\r\n"


def test_a_body_sent_with_the_head_is_delivered(port: int) -> None:
    assert bodies(port, post(b"hello") + b"hello", answers=1) == [b"POST /p hello"]


def test_a_body_sent_after_the_head_is_delivered(port: int) -> None:
    assert bodies(port, post(b"hello"), b"hel", b"lo", answers=1) == [b"POST /p hello"]


def test_a_chunked_body_is_delivered(port: int) -> None:
    head = post(b"", b"Transfer-Encoding: chunked\r\n")
    chunks = b"3\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n"
    assert bodies(port, head, chunks, answers=1) == [b"POST /p hello"]


def test_pipelined_requests_behind_an_upgrade_offer_are_answered_in_order(port: int) -> None:
    get = b"GET /g HTTP/1.1\r\nHost: x\r\n" + OFFER + b"\r\n"
    plain = b"POST /q HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nok"
    found = bodies(port, post(b"one") + b"one" + get + plain, answers=3)
    assert found == [b"POST /p one", b"GET /g ", b"POST /q ok"]
