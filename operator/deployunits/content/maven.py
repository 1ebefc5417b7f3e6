"""Resolve a Maven artifact (a kjar) from a Maven repository over HTTP, bounded and typed."""

from __future__ import annotations

import contextlib
import hashlib
import re
from dataclasses import dataclass
from typing import ClassVar
from xml.etree.ElementTree import Element, ParseError

import aiohttp
from aiohttp.helpers import basicauth_from_netrc, get_env_proxy_for_url, netrc_from_env
from aiohttp.http_exceptions import ContentEncodingError, HttpProcessingError
from defusedxml import ElementTree as SafeElementTree
from defusedxml.common import DefusedXmlException
from yarl import URL

from deployunits.content.digest import sha256_hex

__all__ = [
    "ArtifactInvalid",
    "ArtifactNotFound",
    "CoordinatesError",
    "MavenCoordinates",
    "MavenError",
    "MavenHttp",
    "MavenUnavailable",
    "RepositoryError",
    "ResolvedArtifact",
    "fetch_artifact",
]

SNAPSHOT_SUFFIX = "-SNAPSHOT"

# maven-metadata.xml is a few KiB even for long-lived snapshots; far more is not metadata.
MAX_METADATA_BYTES = 1024 * 1024

_COMPONENT = re.compile(r"[A-Za-z0-9_.-]+")
_MAX_COMPONENT_LENGTH = 255
_SNAPSHOT_TIMESTAMP = re.compile(r"\d{8}\.\d{6}")
_BUILD_NUMBER = re.compile(r"[1-9]\d{0,9}")
# Packagings whose file extension differs from the packaging name (a kjar is a .jar file).
_EXTENSIONS = {"kjar": "jar", "ejb": "jar", "maven-plugin": "jar", "bundle": "jar"}
_CHUNK = 64 * 1024
# httpx's limit, which the operator used before aiohttp (whose default is 10).
_MAX_REDIRECTS = 20


class MavenError(Exception):
    """A Maven resolution failure; `temporary` tells whether retrying later can succeed."""

    temporary: ClassVar[bool] = False

    def __init__(self, message: str, *, url: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.url = url


class MavenUnavailable(MavenError):
    """The repository could not answer now (refused, timeout, 5xx, 429): retry later."""

    temporary = True


class ArtifactNotFound(MavenError):
    """The repository answered, and it does not hold the artifact (permanent)."""


class ArtifactInvalid(MavenError):
    """The artifact or its metadata is unusable: too large, malformed, checksum mismatch."""


class RepositoryError(MavenError):
    """The repository URL or the repository's answer rules out this request (bad URL, 401/403)."""


class CoordinatesError(MavenError, ValueError):
    """A groupId, artifactId, version or packaging breaks the Maven naming rules."""


def _check_component(field: str, value: str) -> None:
    if (
        not value
        or len(value) > _MAX_COMPONENT_LENGTH
        or not _COMPONENT.fullmatch(value)
        or ".." in value
        or value == "."
    ):
        raise CoordinatesError(
            f"invalid Maven {field} {value!r}: use 1 to {_MAX_COMPONENT_LENGTH} characters from "
            "A-Z a-z 0-9 _ . - without '..'"
        )


@dataclass(frozen=True, slots=True)
class MavenCoordinates:
    """groupId, artifactId, version and packaging of one artifact; validated on creation."""

    group_id: str
    artifact_id: str
    version: str
    packaging: str = "jar"

    def __post_init__(self) -> None:
        _check_component("groupId", self.group_id)
        # A groupId maps to directories, so empty segments would escape the layout.
        if self.group_id.startswith(".") or self.group_id.endswith("."):
            raise CoordinatesError(
                f"invalid Maven groupId {self.group_id!r}: it must not start or end with '.'"
            )
        _check_component("artifactId", self.artifact_id)
        _check_component("version", self.version)
        _check_component("packaging", self.packaging)

    @classmethod
    def parse(cls, text: str) -> MavenCoordinates:
        """Parse `groupId:artifactId:version[:packaging]`."""
        parts = text.split(":")
        if len(parts) not in (3, 4):
            raise CoordinatesError(
                f"invalid Maven coordinates {text!r}: expected groupId:artifactId:version"
                "[:packaging]"
            )
        return cls(*parts)

    @property
    def is_snapshot(self) -> bool:
        return self.version.endswith(SNAPSHOT_SUFFIX)

    @property
    def extension(self) -> str:
        """File extension of the artifact in the repository."""
        return _EXTENSIONS.get(self.packaging, self.packaging)

    def version_path(self) -> str:
        """Directory of this version, relative to the repository root."""
        return f"{self.group_id.replace('.', '/')}/{self.artifact_id}/{self.version}"

    def file_name(self, resolved_version: str | None = None) -> str:
        return f"{self.artifact_id}-{resolved_version or self.version}.{self.extension}"

    def __str__(self) -> str:
        return f"{self.group_id}:{self.artifact_id}:{self.version}"


@dataclass(frozen=True, slots=True)
class ResolvedArtifact:
    """Bytes of an artifact as downloaded, with the exact version and URL they came from."""

    coords: MavenCoordinates
    resolved_version: str
    url: str
    content: bytes
    sha256: str

    @property
    def size(self) -> int:
        return len(self.content)


@dataclass(frozen=True)
class Route:
    """How requests to one origin go: through which proxy, with which credentials."""

    proxy: URL | None = None
    proxy_auth: aiohttp.BasicAuth | None = None
    auth: aiohttp.BasicAuth | None = None


class MavenHttp:
    """The HTTP session for Maven repositories, and how the environment says to reach them.

    With `trust_env`, HTTP(S)_PROXY / NO_PROXY and the netrc file apply as aiohttp's own
    trust_env applies them, but they are looked up once per origin: aiohttp looks both up on
    every request, in worker threads, which was a fifth of the operator's CPU fetching kjars.
    The session itself must not trust the environment (it would look them up again).
    """

    def __init__(self, session: aiohttp.ClientSession, *, trust_env: bool = False) -> None:
        self.session = session
        self.trust_env = trust_env
        self._routes: dict[tuple[str, str | None, int | None], Route] = {}

    def route(self, url: URL) -> Route:
        key = (url.scheme, url.host, url.port)
        found = self._routes.get(key)
        if found is None:
            found = self._routes[key] = _route_from_env(url) if self.trust_env else Route()
        return found


def _route_from_env(url: URL) -> Route:
    proxy: URL | None = None
    proxy_auth = auth = None
    with contextlib.suppress(LookupError):
        proxy, proxy_auth = get_env_proxy_for_url(url)
    if url.host is not None:
        with contextlib.suppress(LookupError):
            auth = basicauth_from_netrc(netrc_from_env(), url.host)
    return Route(proxy, proxy_auth, auth)


async def fetch_artifact(
    client: MavenHttp,
    repository_url: str,
    coords: MavenCoordinates,
    *,
    max_bytes: int,
    verify_checksum: bool = True,
) -> ResolvedArtifact:
    """Download `coords` from the repository at `repository_url`, reading at most `max_bytes`.

    A `-SNAPSHOT` version resolves through the version's `maven-metadata.xml` to the latest
    timestamped file; without metadata a plain `{artifactId}-{version}` file is used (the layout of
    a local repository). When the repository publishes a `.sha1` next to the file, it must match.
    Timeouts come from `client.session`. Raises a `MavenError` subclass; see `MavenError.temporary`.
    """
    base = _repository_base(repository_url)
    version_url = f"{base}/{coords.version_path()}"
    resolved_version = coords.version
    if coords.is_snapshot:
        resolved_version = await _resolve_snapshot(client, version_url, coords)
    url = f"{version_url}/{coords.file_name(resolved_version)}"
    content = await _get(client, url, max_bytes=max_bytes, what=f"artifact {coords}")
    if content is None:
        hint = ""
        if coords.is_snapshot and resolved_version == coords.version:
            hint = f" (and {version_url}/maven-metadata.xml does not exist)"
        raise ArtifactNotFound(
            f"artifact {coords} not found: {url} answered HTTP 404{hint}; check the groupId, "
            f"artifactId and version, and that the artifact is deployed to {base}",
            url=url,
        )
    if verify_checksum:
        await _verify_sha1(client, url, content, coords)
    return ResolvedArtifact(
        coords=coords,
        resolved_version=resolved_version,
        url=url,
        content=content,
        sha256=sha256_hex(content),
    )


def _repository_base(repository_url: str) -> str:
    try:
        # yarl is the parser aiohttp requests with, so what passes here is what gets requested.
        parsed = URL(repository_url)
    except ValueError as exc:
        raise RepositoryError(
            f"invalid Maven repository URL {repository_url!r}: {exc}", url=repository_url
        ) from exc
    if (
        parsed.scheme not in ("http", "https")
        or not parsed.host
        or parsed.query_string
        or parsed.fragment
    ):
        raise RepositoryError(
            f"invalid Maven repository URL {repository_url!r}: use http(s)://host[:port]/path "
            "without query or fragment",
            url=repository_url,
        )
    return repository_url.rstrip("/")


async def _resolve_snapshot(client: MavenHttp, version_url: str, coords: MavenCoordinates) -> str:
    """Timestamped version (`1.0-20240101.120000-3`) of a snapshot, or the plain version."""
    metadata_url = f"{version_url}/maven-metadata.xml"
    data = await _get(
        client, metadata_url, max_bytes=MAX_METADATA_BYTES, what=f"metadata of {coords}"
    )
    if data is None:
        # No remote metadata: the repository may be a local one (`mvn install` layout).
        return coords.version
    root = _parse_metadata(data, metadata_url, coords)
    versioning = _child(root, "versioning")
    if versioning is None:
        raise ArtifactNotFound(
            f"snapshot {coords} not found: {metadata_url} has no <versioning>", url=metadata_url
        )
    base_version = coords.version.removesuffix(SNAPSHOT_SUFFIX)

    snapshot_versions = _child(versioning, "snapshotVersions")
    if snapshot_versions is not None:
        for entry in snapshot_versions:
            if _local_name(entry.tag) != "snapshotVersion":
                continue
            if _text(entry, "extension") == coords.extension and not _text(entry, "classifier"):
                value = _text(entry, "value")
                if not value or not _COMPONENT.fullmatch(value) or ".." in value:
                    raise ArtifactInvalid(
                        f"invalid snapshot version {value!r} for {coords} in {metadata_url}",
                        url=metadata_url,
                    )
                return value

    snapshot = _child(versioning, "snapshot")
    if snapshot is not None:
        if _text(snapshot, "localCopy") == "true":
            return coords.version
        timestamp = _text(snapshot, "timestamp")
        build_number = _text(snapshot, "buildNumber")
        if timestamp or build_number:
            if not _SNAPSHOT_TIMESTAMP.fullmatch(timestamp) or not _BUILD_NUMBER.fullmatch(
                build_number
            ):
                raise ArtifactInvalid(
                    f"invalid snapshot timestamp {timestamp!r} / buildNumber {build_number!r} "
                    f"for {coords} in {metadata_url}",
                    url=metadata_url,
                )
            return f"{base_version}-{timestamp}-{build_number}"

    raise ArtifactNotFound(
        f"snapshot {coords} not found: {metadata_url} lists no .{coords.extension} file; "
        "deploy the artifact again",
        url=metadata_url,
    )


def _parse_metadata(data: bytes, url: str, coords: MavenCoordinates) -> Element:
    try:
        root: Element = SafeElementTree.fromstring(data)
    except (ParseError, DefusedXmlException) as exc:
        raise ArtifactInvalid(
            f"invalid maven-metadata.xml for {coords} at {url}: {exc}", url=url
        ) from exc
    if _local_name(root.tag) != "metadata":
        raise ArtifactInvalid(
            f"invalid maven-metadata.xml for {coords} at {url}: root element is "
            f"<{_local_name(root.tag)}>, expected <metadata>",
            url=url,
        )
    return root


def _local_name(tag: str) -> str:
    # Newer Maven versions write a default namespace; older ones write none.
    return tag.rsplit("}", 1)[-1]


def _child(parent: Element, name: str) -> Element | None:
    for element in parent:
        if _local_name(element.tag) == name:
            return element
    return None


def _text(parent: Element, name: str) -> str:
    element = _child(parent, name)
    return (element.text or "").strip() if element is not None else ""


async def _verify_sha1(
    client: MavenHttp, url: str, content: bytes, coords: MavenCoordinates
) -> None:
    checksum_url = f"{url}.sha1"
    data = await _get(client, checksum_url, max_bytes=1024, what=f"checksum of {coords}")
    if data is None:
        return  # Checksums are optional in a repository.
    # The file holds the hex digest, sometimes followed by a file name.
    words = data.decode("ascii", errors="replace").split()
    expected = words[0].lower() if words else ""
    actual = hashlib.sha1(content).hexdigest()
    if expected != actual:
        raise ArtifactInvalid(
            f"artifact {coords} at {url} does not match its checksum {checksum_url} "
            f"(expected sha1 {expected!r}, got {actual!r}); the download or the repository is "
            "corrupt",
            url=url,
        )


async def _get(client: MavenHttp, url: str, *, max_bytes: int, what: str) -> bytes | None:
    """Body of `url`, or None on 404/410; reads at most `max_bytes`, whatever the headers claim."""
    try:
        route = client.route(URL(url))
        # identity: a compressed body could expand far beyond max_bytes within one chunk.
        async with client.session.get(
            url,
            headers={"Accept-Encoding": "identity"},
            allow_redirects=True,
            max_redirects=_MAX_REDIRECTS,
            proxy=route.proxy,
            proxy_auth=route.proxy_auth,
            auth=route.auth,
        ) as response:
            status = response.status
            if status in (404, 410):
                return None
            if status in (408, 425, 429) or status >= 500:
                raise MavenUnavailable(
                    f"Maven repository unavailable: {url} answered HTTP {status} for {what}; "
                    "will retry",
                    url=url,
                )
            if status in (401, 403):
                raise RepositoryError(
                    f"Maven repository refused access to {what}: {url} answered HTTP {status}; "
                    "the repository must allow anonymous reads",
                    url=url,
                )
            if status != 200:
                raise RepositoryError(
                    f"unexpected answer from the Maven repository for {what}: {url} answered "
                    f"HTTP {status}",
                    url=url,
                )
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise ArtifactInvalid(
                    f"{what} at {url} is {int(declared)} bytes, over the limit of {max_bytes}",
                    url=url,
                )
            body = bytearray()
            async for chunk in response.content.iter_chunked(_CHUNK):
                body += chunk
                if len(body) > max_bytes:
                    # Leaving the block closes the connection: the rest is never read.
                    raise ArtifactInvalid(
                        f"{what} at {url} is over the limit of {max_bytes} bytes", url=url
                    )
            return bytes(body)
    except MavenError:
        raise
    except (aiohttp.ClientError, TimeoutError) as exc:
        name, details, temporary = _failure(exc)
        if not temporary:
            raise RepositoryError(
                f"cannot fetch {what} from {url}: {name}: {details}", url=url
            ) from exc
        raise MavenUnavailable(
            f"Maven repository unavailable: could not fetch {what} from {url} "
            f"({name}: {details or 'no details'}); will retry",
            url=url,
        ) from exc


def _failure(exc: aiohttp.ClientError | TimeoutError) -> tuple[str, str, bool]:
    """Name, details and temporariness of a failed request.

    The names are those httpx gave before the operator moved to aiohttp: they are part of the
    messages users see in conditions and events, which may be matched by alerts.
    """
    if isinstance(exc, aiohttp.TooManyRedirects):
        return "TooManyRedirects", "Exceeded maximum allowed redirects.", False
    if isinstance(exc, aiohttp.InvalidUrlRedirectClientError):
        # A broken Location header is a malformed answer, which the server may yet correct.
        return "RemoteProtocolError", f"Invalid URL in location header: {exc}", True
    if isinstance(exc, aiohttp.NonHttpUrlClientError):
        return "UnsupportedProtocol", f"Request URL has an unsupported protocol: {exc}", False
    if isinstance(exc, aiohttp.InvalidURL):
        return "InvalidURL", str(exc), False
    cause = exc.__cause__
    if isinstance(exc, aiohttp.ClientPayloadError) and isinstance(cause, ContentEncodingError):
        return "DecodingError", cause.message, False
    # Everything below can clear up by itself: refused connections, timeouts, resets, proxies.
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return "ConnectTimeout", str(exc), True
    if isinstance(exc, TimeoutError):
        # The total deadline (a bare TimeoutError) or a socket read that got no data in time.
        return "ReadTimeout", str(exc), True
    if isinstance(exc, (aiohttp.ClientProxyConnectionError, aiohttp.ClientHttpProxyError)):
        return "ProxyError", str(exc), True
    if isinstance(exc, aiohttp.ClientConnectorError):
        return "ConnectError", str(exc), True
    if isinstance(exc, aiohttp.ClientResponseError):
        # A malformed status line or headers.
        return "RemoteProtocolError", exc.message, True
    if isinstance(exc, aiohttp.ClientPayloadError):
        # A body cut short; the parser's own message says how.
        details = cause.message if isinstance(cause, HttpProcessingError) else str(exc)
        return "RemoteProtocolError", details, True
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "RemoteProtocolError", str(exc), True
    if isinstance(exc, (aiohttp.ClientOSError, aiohttp.ClientConnectionResetError)):
        return "ReadError", str(exc), True
    return type(exc).__name__, str(exc), True
