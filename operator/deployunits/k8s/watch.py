"""List-then-watch of one collection of objects, feeding a sink; relists on 410, reconnects."""

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any, Protocol

from deployunits.k8s._transport import KubeClient
from deployunits.k8s.errors import JSON, ApiError, ApiUnavailable

logger = logging.getLogger(__name__)


class Sink(Protocol):
    """Where a reflector delivers what it sees."""

    def parse_page(self, objects: list[JSON]) -> list[Any]:
        """The kept form of one page of a list (pages are parsed as they come, to bound memory)."""

    def replace(self, scope: str | None, parsed: list[Any], resource_version: int) -> None:
        """A fresh list of every object in scope (a namespace, or None for all), parsed."""

    def apply(self, scope: str | None, event_type: str, obj: JSON, resource_version: int) -> None:
        """One watch event (ADDED, MODIFIED, DELETED) or a BOOKMARK."""


class _Gone(Exception):
    """The watch's resourceVersion is too old (410): list again."""


def resource_version_of(obj: Mapping[str, Any]) -> int:
    """An object's resourceVersion as a number (etcd revisions are numbers; 0 if unknown)."""
    try:
        return int(obj.get("metadata", {}).get("resourceVersion") or 0)
    except (TypeError, ValueError):
        return 0


class Reflector:
    """Mirrors one collection path into a sink until cancelled."""

    def __init__(
        self,
        kube: KubeClient,
        path: str,
        sink: Sink,
        *,
        scope: str | None,
        label_selector: str | None = None,
        page_size: int = 500,
        timeout_seconds: int = 300,
        max_backoff: float = 5.0,
    ) -> None:
        self._kube = kube
        self._path = path
        self._sink = sink
        self.scope = scope
        self._selector = {"labelSelector": label_selector} if label_selector else {}
        self._page_size = page_size
        self._timeout = timeout_seconds
        self._max_backoff = max_backoff
        #: Set once the first list has been delivered.
        self.synced = asyncio.Event()
        #: Whether the watch stream is open right now.
        self.connected = False
        #: monotonic time since which the reflector is disconnected (None while connected).
        self.disconnected_since: float | None = time.monotonic()
        self.resource_version = 0

    def stale_for(self) -> float:
        """Seconds the mirror has been without a live watch (0 while connected)."""
        if self.disconnected_since is None:
            return 0.0
        return time.monotonic() - self.disconnected_since

    async def run(self) -> None:
        """List, then watch; relist on 410 Gone; reconnect with backoff on errors."""
        backoff = 0.1
        while True:
            try:
                await self._list()
                backoff = 0.1
                while True:
                    await self._watch()
            except _Gone:
                logger.info("watch of %s expired (410); listing again", self._path)
                self._disconnected()
            except asyncio.CancelledError:
                self._disconnected()
                raise
            except (ApiUnavailable, ApiError, ValueError, KeyError, TypeError) as error:
                self._disconnected()
                logger.warning(
                    "watch of %s failed: %s; retrying in %.1fs", self._path, error, backoff
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._max_backoff)
            except Exception:
                # Whatever else happens, a dead mirror would serve stale reads forever.
                self._disconnected()
                logger.exception("watch of %s broke; retrying in %.1fs", self._path, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._max_backoff)

    def _disconnected(self) -> None:
        self.connected = False
        if self.disconnected_since is None:
            self.disconnected_since = time.monotonic()

    async def _list(self) -> None:
        objects: list[Any] = []
        token = ""
        while True:
            params = {**self._selector, "limit": str(self._page_size)}
            if token:
                params["continue"] = token
            try:
                page = await self._kube.get(self._path, params=params)
            except ApiError as error:
                if error.status == 410:
                    # The continue token expired mid-list: start over.
                    objects, token = [], ""
                    continue
                raise
            objects.extend(self._sink.parse_page(page.get("items") or []))
            token = str((page.get("metadata") or {}).get("continue") or "")
            if not token:
                break
        version = int((page.get("metadata") or {}).get("resourceVersion") or 0)
        self.resource_version = version
        self._sink.replace(self.scope, objects, version)
        self.connected = True
        self.disconnected_since = None
        self.synced.set()

    async def _watch(self) -> None:
        stream = self._kube.watch(
            self._path,
            resource_version=str(self.resource_version),
            timeout_seconds=self._timeout,
            params=self._selector,
        )
        try:
            async for event in stream:
                self.connected = True
                self.disconnected_since = None
                kind = str(event.get("type", ""))
                obj: JSON = event.get("object") or {}
                if kind == "ERROR":
                    if obj.get("code") == 410:
                        raise _Gone()
                    raise ValueError(f"watch error: {obj.get('message', obj)}")
                version = resource_version_of(obj)
                if version > self.resource_version:
                    self.resource_version = version
                self._sink.apply(self.scope, kind, obj, self.resource_version)
        except ApiError as error:
            if error.status == 410:
                raise _Gone() from error
            raise
        finally:
            await stream.aclose()  # type: ignore[attr-defined]
