"""The shim's Date header: added to an answer without one, never to one that has one."""

import asyncio

from starlette.types import Message, Receive, Scope, Send

from deployunits.api.headers import DateHeader


def start_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    sent: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(DateHeader(app)({"type": "http"}, receive, send))
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    return list(sent[0]["headers"])


def test_an_answer_without_a_date_gets_one_in_the_http_date_format() -> None:
    headers = start_headers([(b"content-type", b"application/json")])
    dates = [value for name, value in headers if name == b"date"]
    assert len(dates) == 1
    assert dates[0].endswith(b" GMT")
    assert (b"content-type", b"application/json") in headers


def test_an_answer_with_a_date_keeps_it_alone() -> None:
    engine_date = (b"Date", b"Sat, 05 Dec 2026 01:32:22 GMT")
    assert start_headers([engine_date]) == [engine_date]
