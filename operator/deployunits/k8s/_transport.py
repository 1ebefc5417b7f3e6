"""The HTTP transport to the API server (aiohttp), private to the k8s package: paths and calls."""

import json
from collections.abc import AsyncIterator, Mapping
from typing import Literal
from urllib.parse import quote

import aiohttp

from deployunits import constants
from deployunits.k8s.connection import Connection
from deployunits.k8s.errors import JSON, ApiError, ApiUnavailable

PatchType = Literal["merge", "json", "strategic"]
_PATCH_CONTENT_TYPES: Mapping[PatchType, str] = {
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
    "strategic": "application/strategic-merge-patch+json",
}
#: The answer to a write as the object's metadata alone (resourceVersion, uid, generation): the
#: API server neither encodes nor sends the whole object, which for a unit holding 20 KiB of
#: inline BPMN is most of what a status write costs both ends. Servers that cannot (none since
#: 1.15) fall back to the object.
_METADATA_ONLY = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1, application/json"


def custom_path(
    plural: str, namespace: str | None = None, name: str | None = None, subresource: str = ""
) -> str:
    """The path of a custom resource collection or object of the project's group."""
    path = f"/apis/{constants.GROUP}/{constants.VERSION}"
    if namespace is not None:
        path += f"/namespaces/{quote(namespace, safe='')}"
    path += f"/{plural}"
    if name is not None:
        path += f"/{quote(name, safe='')}"
    if subresource:
        path += f"/{subresource}"
    return path


def core_path(plural: str, namespace: str | None = None, name: str | None = None) -> str:
    """The path of a core (v1) collection or object."""
    path = "/api/v1"
    if namespace is not None:
        path += f"/namespaces/{quote(namespace, safe='')}"
    path += f"/{plural}"
    if name is not None:
        path += f"/{quote(name, safe='')}"
    return path


class KubeClient:
    """Async calls to the API server over aiohttp; one instance per process, closed at the end.

    aiohttp rather than httpx: under hundreds of concurrent requests httpx's connection pool
    spends more CPU choosing a connection than the request costs (measured in bench/).
    """

    def __init__(
        self, connection: Connection, *, timeout: float = 30.0, max_connections: int = 100
    ) -> None:
        self.connection = connection
        self._timeout = aiohttp.ClientTimeout(total=timeout, connect=5.0)
        self._ssl = connection.ssl_context()
        self._limit = max_connections
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        # Created on first use, inside the running event loop, as aiohttp requires.
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._limit, ssl=self._ssl),
                timeout=self._timeout,
                headers={"User-Agent": "deployunits"},
            )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _headers(
        self, content_type: str | None = None, *, metadata_only: bool = False
    ) -> dict[str, str]:
        headers = {"Accept": _METADATA_ONLY if metadata_only else "application/json"}
        token = self.connection.bearer()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if content_type:
            headers["Content-Type"] = content_type
        return headers

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: object = None,
        params: Mapping[str, str] | None = None,
        content_type: str = "application/json",
        metadata_only: bool = False,
    ) -> JSON:
        """One API call; raises ApiError on a non-2xx answer, ApiUnavailable if unreachable.

        With metadata_only, a written object comes back as its metadata alone.
        """
        content = None if body is None else json.dumps(body).encode()
        try:
            async with self._client().request(
                method,
                self.connection.server + path,
                data=content,
                params=dict(params) if params else None,
                headers=self._headers(
                    content_type if content is not None else None, metadata_only=metadata_only
                ),
            ) as response:
                raw = await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as error:
            raise ApiUnavailable(f"{method} {path}: {error!r}") from error
        if status >= 400:
            try:
                error_body = json.loads(raw)
            except ValueError:
                error_body = {"message": raw[:1000].decode(errors="replace")}
            if not isinstance(error_body, dict):
                error_body = {"message": str(error_body)}
            raise ApiError(status, error_body, method, path)
        if not raw:
            return {}
        result: JSON = json.loads(raw)
        return result

    async def get_text(self, path: str) -> str:
        """A non-JSON endpoint (for example /metrics) as text."""
        try:
            async with self._client().get(
                self.connection.server + path, headers=self._headers()
            ) as response:
                text = await response.text()
                if response.status >= 400:
                    raise ApiError(response.status, {"message": text[:1000]}, "GET", path)
                return text
        except (aiohttp.ClientError, TimeoutError) as error:
            raise ApiUnavailable(f"GET {path}: {error!r}") from error

    async def get(self, path: str, params: Mapping[str, str] | None = None) -> JSON:
        return await self.request("GET", path, params=params)

    async def create(self, path: str, body: JSON, *, metadata_only: bool = False) -> JSON:
        return await self.request("POST", path, body=body, metadata_only=metadata_only)

    async def patch(
        self,
        path: str,
        body: object,
        patch_type: PatchType = "merge",
        *,
        metadata_only: bool = False,
    ) -> JSON:
        return await self.request(
            "PATCH",
            path,
            body=body,
            content_type=_PATCH_CONTENT_TYPES[patch_type],
            metadata_only=metadata_only,
        )

    async def delete(self, path: str, body: JSON | None = None) -> JSON:
        return await self.request("DELETE", path, body=body)

    async def watch(
        self,
        path: str,
        *,
        resource_version: str,
        timeout_seconds: int = 300,
        params: Mapping[str, str] | None = None,
    ) -> AsyncIterator[JSON]:
        """Events of a watch from a resourceVersion, until the server ends the stream."""
        params = {
            **(params or {}),
            "watch": "true",
            "resourceVersion": resource_version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(timeout_seconds),
        }
        timeout = aiohttp.ClientTimeout(total=None, connect=5.0, sock_read=timeout_seconds + 30)
        try:
            async with self._client().get(
                self.connection.server + path,
                params=params,
                headers=self._headers(),
                timeout=timeout,
            ) as response:
                if response.status >= 400:
                    raw = await response.read()
                    try:
                        error_body = json.loads(raw)
                    except ValueError:
                        error_body = {"message": raw[:1000].decode(errors="replace")}
                    raise ApiError(response.status, error_body, "WATCH", path)
                # Lines can be far longer than aiohttp's readline limit (objects up to 1.5 MB).
                pending = b""
                async for chunk in response.content.iter_any():
                    pending += chunk
                    *lines, pending = pending.split(b"\n")
                    for line in lines:
                        if line.strip():
                            event: JSON = json.loads(line)
                            yield event
                if pending.strip():
                    last: JSON = json.loads(pending)
                    yield last
        except (aiohttp.ClientError, TimeoutError) as error:
            raise ApiUnavailable(f"WATCH {path}: {error!r}") from error
