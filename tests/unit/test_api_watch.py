"""The shim's reflector against a fake API server: a watch that expires (410) is listed again.

Matrix: 410 as an ERROR event in the stream and as the HTTP status of the watch request; a
stream that ends cleanly is resumed from the last resourceVersion; changes made while the watch
was gone are in the cache after the relist (none lost, deletions too).
"""

import asyncio
from collections.abc import AsyncIterator, Mapping

import pytest

from deployunits.api.cache import UnitCache
from deployunits.k8s.connection import Connection
from deployunits.k8s.errors import ApiError
from deployunits.k8s.gateway import ApiServer
from deployunits.k8s.raw import JSON, KubeClient
from deployunits.k8s.watch import Reflector
from tests.support.units import listed_unit

PATH = "/apis/bpm.deployunits.io/v1alpha1/deploymentunits"


def unit(name: str, rv: int) -> JSON:
    return listed_unit(name, rv, status={"status": "DEPLOYED"})


class FakeApi(KubeClient):
    """Lists and watch streams scripted in order; records every watch's resourceVersion."""

    def __init__(self, lists: list[JSON], watches: list[list[JSON] | ApiError]) -> None:
        super().__init__(Connection(server="https://127.0.0.1:1"))
        self.lists = lists
        self.watches = watches
        self.listed = 0
        self.watched_from: list[str] = []
        self.idle = asyncio.Event()

    async def get(self, path: str, params: Mapping[str, str] | None = None) -> JSON:
        page = self.lists[min(self.listed, len(self.lists) - 1)]
        self.listed += 1
        return page

    async def watch(  # type: ignore[override]
        self,
        path: str,
        *,
        resource_version: str,
        timeout_seconds: int = 300,
        params: Mapping[str, str] | None = None,
    ) -> AsyncIterator[JSON]:
        self.watched_from.append(resource_version)
        if not self.watches:
            # Nothing more scripted: a quiet, open stream.
            self.idle.set()
            await asyncio.Event().wait()
        script = self.watches.pop(0)
        if isinstance(script, ApiError):
            raise script
        for event in script:
            yield event


def listing(rv: int, *items: JSON) -> JSON:
    return {"metadata": {"resourceVersion": str(rv)}, "items": list(items)}


def gone(rv: int) -> ApiError:
    body = {"kind": "Status", "code": 410, "reason": "Expired", "message": f"too old: {rv}"}
    return ApiError(410, body, "WATCH", PATH)


EXPIRED_EVENT: JSON = {
    "type": "ERROR",
    "object": {"kind": "Status", "code": 410, "reason": "Expired", "message": "too old"},
}


async def mirror(api: FakeApi) -> UnitCache:
    cache = UnitCache(ApiServer(api), [])
    reflector = Reflector(api, PATH, cache, scope=None)
    task = asyncio.create_task(reflector.run())
    try:
        async with asyncio.timeout(5):
            await api.idle.wait()
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert reflector.synced.is_set()
    return cache


@pytest.mark.parametrize("expiry", ["event", "status"])
def test_an_expired_watch_is_listed_again_without_losing_changes(expiry: str) -> None:
    first = listing(10, unit("kept", 5), unit("deleted", 6))
    # While the watch was gone: "deleted" went, "added" came, "kept" changed.
    second = listing(20, unit("kept", 15), unit("added", 18))
    stream: list[JSON] | ApiError = (
        [{"type": "MODIFIED", "object": unit("kept", 11)}, EXPIRED_EVENT]
        if expiry == "event"
        else gone(10)
    )
    api = FakeApi([first, second], [stream])

    cache = asyncio.run(mirror(api))

    assert api.listed == 2
    # The second watch starts from the relist's resourceVersion, not from the expired one.
    assert api.watched_from == ["10", "20"]
    assert cache.get("ns", "deleted") is None
    assert cache.get("ns", "added") is not None
    kept = cache.get("ns", "kept")
    assert kept is not None and kept.resource_version == 15
    assert {u.deployment_id for u in cache.deployments("ns")} == {"kept", "added"}


def test_a_stream_that_ends_is_resumed_from_the_last_resource_version() -> None:
    api = FakeApi(
        [listing(10, unit("a", 5))],
        [
            [{"type": "ADDED", "object": unit("b", 12)}],
            [{"type": "ADDED", "object": unit("c", 13)}],
        ],
    )

    cache = asyncio.run(mirror(api))

    assert api.listed == 1
    assert api.watched_from == ["10", "12", "13"]
    assert {u.deployment_id for u in cache.deployments("ns")} == {"a", "b", "c"}


def test_any_other_watch_error_is_also_listed_again() -> None:
    refused = ApiError(503, {"message": "storage is (re)initializing"}, "WATCH", PATH)
    api = FakeApi([listing(10, unit("a", 5)), listing(30, unit("a", 5), unit("b", 25))], [refused])

    cache = asyncio.run(mirror(api))

    assert api.listed == 2
    assert api.watched_from == ["10", "30"]
    assert cache.get("ns", "b") is not None
