"""The operator's probe server on :8081: /healthz (liveness) and /metrics (Prometheus)."""

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

logger = logging.getLogger(__name__)


class ProbeServer:
    """A small aiohttp server; the health check is a callable that raises when unhealthy."""

    def __init__(
        self,
        host: str,
        port: int,
        registry: CollectorRegistry,
        check: Callable[[], Awaitable[str]],
    ) -> None:
        self._host, self._port = host, port
        self._registry, self._check = registry, check
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self._host, self._port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _healthz(self, request: web.Request) -> web.Response:
        try:
            async with asyncio.timeout(5):
                detail = await self._check()
        except Exception as error:
            logger.warning("Liveness check failed: %s", error)
            return web.json_response({"ok": False, "error": str(error)}, status=500)
        return web.json_response({"ok": True, "api": detail})

    async def _metrics(self, request: web.Request) -> web.Response:
        body = generate_latest(self._registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
