"""The least a Python HTTP forwarder does per call: the second hop of the sidecar, and nothing else.

    Started by bench/sidecar.py beside the bound shim:
    python bench/baselines/least_forwarder.py PORT ENGINE_URL  (ENGINE_AUTHORIZATION in the env)

A plain ASGI application under uvicorn (uvloop, httptools, as the shim serves) that sends every
request on to the engine with aiohttp over kept-alive connections (as the shim's forwarder
does) and passes the answer back: no routing, no authorization, no limits, no metrics, no error
answers. Its added latency bounds what any Python forwarder on this machine can reach; it is
not a product.
"""

import os
import sys
from typing import Any

import aiohttp
import uvicorn
from yarl import URL

#: Hop-by-hop headers, and the caller's host and credentials, stay behind.
_DROPPED = {b"connection", b"keep-alive", b"transfer-encoding", b"host", b"authorization"}


def application(engine: str, authorization: str) -> Any:
    session: aiohttp.ClientSession | None = None

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        nonlocal session
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    session = aiohttp.ClientSession(
                        cookie_jar=aiohttp.DummyCookieJar(),
                        auto_decompress=False,
                        skip_auto_headers=("Accept", "Accept-Encoding", "User-Agent"),
                    )
                    await send({"type": "lifespan.startup.complete"})
                else:
                    assert session is not None
                    await session.close()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        assert session is not None
        path = scope["raw_path"].decode("latin-1").removeprefix("/engine-rest")
        query = scope["query_string"].decode("latin-1")
        headers = [
            (name.decode("latin-1"), value.decode("latin-1"))
            for name, value in scope["headers"]
            if name not in _DROPPED
        ]
        headers.append(("authorization", authorization))
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        url = URL(engine + path + (f"?{query}" if query else ""), encoded=True)
        async with session.request(scope["method"], url, headers=headers, data=body) as answer:
            await send(
                {
                    "type": "http.response.start",
                    "status": answer.status,
                    "headers": [
                        (name.lower(), value)
                        for name, value in answer.raw_headers
                        if name.lower() not in _DROPPED
                    ],
                }
            )
            async for chunk in answer.content.iter_any():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})

    return app


def main() -> None:
    port, engine = int(sys.argv[1]), sys.argv[2]
    uvicorn.run(
        application(engine, os.environ["ENGINE_AUTHORIZATION"]),
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
        server_header=False,
        date_header=False,
    )


if __name__ == "__main__":
    main()
