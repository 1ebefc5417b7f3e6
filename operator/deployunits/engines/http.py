"""The HTTP plumbing both engine clients share: one session, credentials, bounded error bodies,
and every failure raised as an EngineError."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ClassVar, TypeVar

import aiohttp
from pydantic import BaseModel, ValidationError
from yarl import URL

from deployunits.engines.connection import Camunda7Connection, ClosingClient
from deployunits.engines.errors import EngineError, EngineRefused, EngineUnavailable

_T = TypeVar("_T")
_Model = TypeVar("_Model", bound=BaseModel)
#: A path below the base, one segment per item (ids are never split or joined).
Path = tuple[str, ...]
CHUNK = 64 * 1024


class EngineHttpClient(ClosingClient):
    """Calls one engine over HTTP. Subclasses name the peer in messages, bound how much of an
    error body they read, and turn an error answer into an EngineError (`classify`).

    A session may be passed in to share its connection pool; the client then leaves it open.
    """

    #: What messages call the peer ("the engine", "the KIE Server").
    peer: ClassVar[str]
    #: How much of an error body is read; a longer one is cut.
    max_error_body: ClassVar[int]

    def __init__(
        self,
        connection: Camunda7Connection,
        base: URL,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.connection = connection
        self._base = base
        self._owns_session = session is None
        self._session = session or aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=connection.ssl_context()),
            timeout=aiohttp.ClientTimeout(
                total=connection.request_timeout, sock_connect=connection.connect_timeout
            ),
            # Both engines answer XML or HTML unless asked for JSON; their error bodies are JSON.
            headers={"Accept": "application/json"},
        )
        self._authorization = (
            connection.credentials.header() if connection.credentials is not None else None
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self._base)!r})"

    async def close(self) -> None:
        if self._owns_session:
            await self._session.close()

    def classify(self, operation: str, status: int, raw: bytes) -> EngineError:
        raise NotImplementedError

    def _target(self, method: str, path: Path) -> tuple[str, URL]:
        """The operation's name for messages, and its URL below the base."""
        operation = f"{method} /{'/'.join(path)}"
        url = self._base
        for segment in path:
            # An id is one path segment: one with '/' or a dot segment would reach another path.
            if not segment or "/" in segment or segment in (".", ".."):
                raise EngineRefused(f"{operation}: {segment!r} is not a valid path segment")
            url = url / segment
        return operation, url

    async def _json(self, method: str, path: Path, model: type[_Model], **kwargs: Any) -> _Model:
        """A call whose answer is one JSON object of `model`."""
        operation, url = self._target(method, path)

        async def parse(response: aiohttp.ClientResponse) -> _Model:
            raw = await response.read()
            try:
                return model.model_validate_json(raw)
            except ValidationError as error:
                raise EngineRefused(
                    f"{operation}: {self.peer}'s answer is not a {model.__name__}: "
                    f"{error.error_count()} error(s), first: {error.errors()[0]['msg']}"
                ) from None

        return await self._call(operation, method, url, parse, **kwargs)

    async def _call(
        self,
        operation: str,
        method: str,
        url: URL,
        handle: Callable[[aiohttp.ClientResponse], Awaitable[_T]],
        *,
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> _T:
        sent = dict(headers or {})
        if self._authorization is not None:
            sent["Authorization"] = self._authorization
        try:
            # No redirects: an engine's REST API does not send any, and following one could
            # carry the credentials to another host.
            async with self._session.request(
                method, url, headers=sent, allow_redirects=False, **kwargs
            ) as response:
                if response.status >= 400 or response.status in (301, 302, 303, 307, 308):
                    raw = await read_bounded(response, self.max_error_body)
                    raise self.classify(operation, response.status, raw)
                return await handle(response)
        except EngineError:
            raise
        except TimeoutError:
            raise EngineUnavailable(
                f"{operation}: {self.peer} did not answer within "
                f"{self.connection.request_timeout:g} s"
            ) from None
        except aiohttp.ClientError as error:
            # Raised without its cause: aiohttp's exceptions hold the request, headers included.
            raise EngineUnavailable(
                f"{operation}: cannot reach {self.peer} at {self._base.host}:{self._base.port} "
                f"({type(error).__name__}: {_network_reason(error)})"
            ) from None


async def read_bounded(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """At most `limit` bytes of a body."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(CHUNK):
        chunks.append(chunk)
        size += len(chunk)
        if size >= limit:
            break
    return b"".join(chunks)[:limit]


def _network_reason(error: aiohttp.ClientError) -> str:
    if isinstance(error, aiohttp.ClientConnectorError):
        return str(error.os_error.strerror or error.os_error)
    if isinstance(error, aiohttp.ClientResponseError):
        return f"{error.status} {error.message}"
    return str(error) or "no detail"
