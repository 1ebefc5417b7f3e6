"""Streams any Camunda 7 REST call but deployment writes to an engine, and its answer back.

The engine-bound shim's pass-through: the caller's method, path below `/engine-rest`, query,
headers and body go to the engine, its status, headers and body come back, both bodies in chunks
(never held whole). The caller's credentials and hop-by-hop headers stay behind; the engine gets
the ProcessEngine's credentials. Nothing under `deployment` (nor another named engine) is ever
forwarded: the operator is the only code that deploys to engines.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterable, Iterable, Sequence
from urllib.parse import unquote

import aiohttp
from yarl import URL

from deployunits.engines.connection import Camunda7Connection, ClosingClient
from deployunits.engines.errors import EngineUnavailable

__all__ = ["Camunda7Forwarder", "ForwardedAnswer", "NotForwardable", "forwardable"]

#: Headers about one connection, not the message (RFC 9110 7.6.1), plus the proxy's own.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
#: Never passed on from a caller: its credentials (the engine gets the ProcessEngine's), the
#: host it addressed, and `Expect` (the body is sent as it arrives).
_NOT_FROM_CALLER = HOP_BY_HOP | {"authorization", "host", "expect"}
#: Path segments below the engine's REST base that are never forwarded.
_NEVER = frozenset({"deployment", "engine"})


class NotForwardable(ValueError):
    """The path is one the forwarder does not pass on (deployments, dot segments, ...)."""


def _segment(raw: str) -> str:
    """A path segment as the engine's JAX-RS runtime matches it: decoded, without matrix
    parameters."""
    return unquote(raw.split(";", 1)[0])


def forwardable(segments: Sequence[str]) -> bool:
    """Whether a path below `/engine-rest` (raw, still percent-encoded segments) may be forwarded.

    Refused: an empty path, `deployment` and `engine/...` however spelled (any case, encoded,
    with matrix parameters), dot segments and encoded slashes or backslashes that could make
    the engine see another path than the one checked here.
    """
    if not segments or not segments[0]:
        return False
    decoded = [_segment(s) for s in segments]
    if decoded[0].lower() in _NEVER:
        return False
    return not any(s in (".", "..") or "/" in s or "\\" in s for s in decoded)


class ForwardedAnswer:
    """The engine's answer: status and headers at once, the body as it arrives."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self.status = response.status
        #: The engine's headers as sent (repeated ones kept), without hop-by-hop headers.
        self.headers: list[tuple[bytes, bytes]] = end_to_end_headers(response.raw_headers)

    async def body(self) -> AsyncGenerator[bytes]:
        """The body's bytes as the engine sent them (still compressed, if it compressed)."""
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except (aiohttp.ClientError, TimeoutError) as error:
            # The status is out already; the caller sees the body cut off.
            raise EngineUnavailable(
                f"the engine's answer broke off ({type(error).__name__})"
            ) from None
        finally:
            self._response.release()

    @property
    def complete(self) -> bool:
        """Whether the whole body has been read (or there is none)."""
        return self._response.content.at_eof()

    async def aclose(self) -> None:
        """Give the connection back (or drop it) whether or not the body was read."""
        self._response.release()


def end_to_end_headers(headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The engine's headers that go back to the caller, as sent."""
    pairs = list(headers)
    # Headers a Connection header names are hop-by-hop too.
    named = {
        token.strip().lower()
        for name, value in pairs
        if name.lower() == b"connection"
        for token in value.decode("latin-1").split(",")
    }
    return [
        (name, value)
        for name, value in pairs
        if (lowered := name.decode("latin-1").lower()) not in HOP_BY_HOP and lowered not in named
    ]


class Camunda7Forwarder(ClosingClient):
    """Forwards calls to one engine over a pool of kept-alive connections; close() when done."""

    def __init__(self, connection: Camunda7Connection) -> None:
        self.connection = connection
        self._base = str(connection.base())
        self._authorization = (
            connection.credentials.header() if connection.credentials is not None else None
        )
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=connection.ssl_context(), limit=256),
            timeout=aiohttp.ClientTimeout(
                total=None,
                sock_connect=connection.connect_timeout,
                sock_read=connection.request_timeout,
            ),
            # One caller's engine session must never reach another caller: no cookie jar.
            cookie_jar=aiohttp.DummyCookieJar(),
            # The body goes back as the engine sent it, compressed or not.
            auto_decompress=False,
            # Only the caller's headers: aiohttp would add Accept, Accept-Encoding, User-Agent.
            skip_auto_headers=("Accept", "Accept-Encoding", "User-Agent"),
        )

    def __repr__(self) -> str:
        return f"Camunda7Forwarder({self._base!r})"

    async def close(self) -> None:
        await self._session.close()

    async def open(
        self,
        method: str,
        segments: Sequence[str],
        query: str,
        headers: Iterable[tuple[str, str]],
        body: AsyncIterable[bytes] | None,
    ) -> ForwardedAnswer:
        """Send the call and return once the engine's status and headers are in.

        `segments` is the path below the engine's REST base, raw (percent-encoded) segments;
        `query` the raw query string. NotForwardable if the path may not be forwarded;
        EngineUnavailable if the engine cannot be reached or does not answer in time.
        """
        if not forwardable(segments):
            raise NotForwardable("/" + "/".join(segments))
        url = f"{self._base}/{'/'.join(segments)}" + (f"?{query}" if query else "")
        passed = headers_from_caller(headers)
        if self._authorization is not None:
            passed.append(("authorization", self._authorization))
        operation = f"{method} /{segments[0]}"
        try:
            # No redirects: an engine's REST API sends none, and following one could carry the
            # credentials to another host. The URL is used as given (already encoded).
            response = await self._session.request(
                method,
                URL(url, encoded=True),
                headers=passed,
                data=body,
                allow_redirects=False,
            )
        except TimeoutError:
            raise EngineUnavailable(
                f"{operation}: the engine did not answer within "
                f"{self.connection.request_timeout:g} s",
                status=503,
            ) from None
        except aiohttp.ClientError as error:
            # Without its cause: aiohttp's exceptions hold the request, headers included.
            raise EngineUnavailable(
                f"{operation}: cannot reach the engine ({type(error).__name__})", status=503
            ) from None
        return ForwardedAnswer(response)


def headers_from_caller(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The caller's headers that go on to the engine (names lower-cased)."""
    pairs = [(name.lower(), value) for name, value in headers]
    named = {
        token.strip().lower()
        for name, value in pairs
        if name == "connection"
        for token in value.split(",")
    }
    return [(n, v) for n, v in pairs if n not in _NOT_FROM_CALLER and n not in named]
