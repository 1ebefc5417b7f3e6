"""The engines gateway over https: a private CA given as PEM is trusted, and only it.

A loopback https server with a certificate from a throw-away CA stands in for an engine behind
TLS (the project's real engine speaks plain HTTP); the handshake and verification are real.
"""

import asyncio
import ssl
from pathlib import Path

import pytest
from aiohttp import web

from deployunits.engines import Camunda7Client, Camunda7Connection, EngineUnavailable
from devcluster.certs import TinyCA


async def version(request: web.Request) -> web.Response:
    return web.json_response({"version": "7.24.0"})


def with_server(tmp_path: Path, ca_bundle: str | None) -> str:
    ca = TinyCA("engine-ca")
    cert, key = ca.issue("engine", ip_addresses=("127.0.0.1",), server=True).write(tmp_path, "e")
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    served.load_cert_chain(cert, key)
    bundle = ca.pair.cert_pem.decode() if ca_bundle == "own" else ca_bundle

    async def run() -> str:
        app = web.Application()
        app.router.add_get("/engine-rest/version", version)
        runner = web.AppRunner(app)
        await runner.setup()
        try:
            site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=served)
            await site.start()
            port = runner.addresses[0][1]
            connection = Camunda7Connection(
                url=f"https://127.0.0.1:{port}/engine-rest", ca_bundle=bundle
            )
            async with Camunda7Client(connection) as client:
                return await client.version()
        finally:
            await runner.cleanup()

    return asyncio.run(run())


def test_the_given_ca_is_trusted(tmp_path: Path) -> None:
    assert with_server(tmp_path, "own") == "7.24.0"


def test_without_the_ca_the_engine_is_not_trusted(tmp_path: Path) -> None:
    with pytest.raises(EngineUnavailable, match="cannot reach the engine") as raised:
        with_server(tmp_path, None)
    assert "certificate verify failed" in raised.value.message
