"""Unit tests of Maven artifact resolution against a real HTTP repository on 127.0.0.1."""

from __future__ import annotations

import asyncio
import hashlib
import socket
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import aiohttp
import pytest
from aiohttp import web
from aiohttp.connector import AddrInfoType
from aiohttp.test_utils import TestServer
from yarl import URL

from deployunits.content.maven import (
    ArtifactInvalid,
    ArtifactNotFound,
    CoordinatesError,
    MavenCoordinates,
    MavenError,
    MavenHttp,
    MavenUnavailable,
    RepositoryError,
    ResolvedArtifact,
    fetch_artifact,
)
from devcluster.kjars import build_kjar
from tests.support.maven_repo import MavenRepo, maven_repo_fixture  # noqa: F401

MIB = 1024 * 1024
RELEASE = MavenCoordinates("com.example.orders", "orders-kjar", "1.0.0")
SNAPSHOT = MavenCoordinates("com.example.orders", "orders-kjar", "1.1.0-SNAPSHOT")
BPMN = b'<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL"/>'
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def fetch_with_client(
    repository_url: str, coords: MavenCoordinates, *, max_bytes: int, deadline: float
) -> ResolvedArtifact:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=deadline)) as client:
        return await fetch_artifact(MavenHttp(client), repository_url, coords, max_bytes=max_bytes)


def fetch(
    repository_url: str, coords: MavenCoordinates, *, max_bytes: int = 10 * MIB
) -> ResolvedArtifact:
    return asyncio.run(fetch_with_client(repository_url, coords, max_bytes=max_bytes, deadline=5))


def serving(handler: Handler) -> web.Application:
    """An application that answers every GET with `handler`, as a misbehaving repository."""
    app = web.Application()
    app.router.add_get("/{path:.*}", handler)
    return app


def small_buffers(sock: socket.socket, option: int) -> None:
    """Shrink a socket's send or receive buffer (loopback ones grow to megabytes)."""
    sock.setsockopt(socket.SOL_SOCKET, option, 4096)


def fetch_from(handler: Handler, *, timeout: float = 5) -> ResolvedArtifact:
    """`fetch` RELEASE from a loopback aiohttp server that answers every GET with `handler`."""

    async def run() -> ResolvedArtifact:
        async with TestServer(serving(handler), host="127.0.0.1", port=0) as server:
            url = str(server.make_url("/maven2"))
            return await fetch_with_client(url, RELEASE, max_bytes=10 * MIB, deadline=timeout)

    return asyncio.run(run())


def kjar(coords: MavenCoordinates, marker: bytes = b"") -> bytes:
    return build_kjar(
        {"processes/order.bpmn": BPMN + marker},
        group_id=coords.group_id,
        artifact_id=coords.artifact_id,
        version=coords.version,
    )


def test_release_is_fetched_from_the_standard_layout(maven_repo: MavenRepo) -> None:
    jar = kjar(RELEASE)
    published = maven_repo.publish(RELEASE, jar)

    artifact = fetch(maven_repo.url, RELEASE)

    assert artifact.content == jar
    assert artifact.sha256 == hashlib.sha256(jar).hexdigest()
    assert artifact.resolved_version == "1.0.0"
    assert artifact.url == maven_repo.url_of(published)
    assert artifact.url.endswith("/com/example/orders/orders-kjar/1.0.0/orders-kjar-1.0.0.jar")


def test_repository_url_with_trailing_slash(maven_repo: MavenRepo) -> None:
    maven_repo.publish(RELEASE, kjar(RELEASE))

    assert fetch(maven_repo.url + "/", RELEASE).resolved_version == "1.0.0"


def test_kjar_packaging_resolves_to_a_jar_file(maven_repo: MavenRepo) -> None:
    coords = MavenCoordinates("com.example.orders", "orders-kjar", "1.0.0", packaging="kjar")
    maven_repo.publish(coords, kjar(coords))

    assert fetch(maven_repo.url, coords).url.endswith("/orders-kjar-1.0.0.jar")


def test_snapshot_resolves_the_latest_build_through_metadata(maven_repo: MavenRepo) -> None:
    first = kjar(SNAPSHOT, b"first")
    maven_repo.publish(SNAPSHOT, first, datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC))
    second = kjar(SNAPSHOT, b"second")
    maven_repo.publish(SNAPSHOT, second, datetime(2024, 1, 3, 4, 5, 6, tzinfo=UTC))

    artifact = fetch(maven_repo.url, SNAPSHOT)

    assert artifact.resolved_version == "1.1.0-20240103.040506-2"
    assert artifact.url.endswith("/1.1.0-SNAPSHOT/orders-kjar-1.1.0-20240103.040506-2.jar")
    assert artifact.content == second
    assert any(p.endswith("/1.1.0-SNAPSHOT/maven-metadata.xml") for p in maven_repo.requested_paths)


def test_snapshot_metadata_without_snapshot_versions(maven_repo: MavenRepo) -> None:
    # Maven 2 wrote only <snapshot><timestamp/><buildNumber/></snapshot>.
    maven_repo.publish(SNAPSHOT, kjar(SNAPSHOT), datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC))
    metadata = maven_repo.root / SNAPSHOT.version_path() / "maven-metadata.xml"
    text = metadata.read_text()
    start, end = text.index("<snapshotVersions>"), text.index("</snapshotVersions>")
    metadata.write_text(text[:start] + text[end + len("</snapshotVersions>") :])

    assert fetch(maven_repo.url, SNAPSHOT).resolved_version == "1.1.0-20240506.070809-1"


def test_snapshot_metadata_with_namespace(maven_repo: MavenRepo) -> None:
    maven_repo.publish(SNAPSHOT, kjar(SNAPSHOT), datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC))
    metadata = maven_repo.root / SNAPSHOT.version_path() / "maven-metadata.xml"
    metadata.write_text(
        metadata.read_text().replace(
            '<metadata modelVersion="1.1.0">',
            '<metadata xmlns="http://maven.apache.org/METADATA/1.1.0" modelVersion="1.1.0">',
        )
    )

    assert fetch(maven_repo.url, SNAPSHOT).resolved_version == "1.1.0-20240506.070809-1"


def test_snapshot_without_metadata_uses_the_plain_file(maven_repo: MavenRepo) -> None:
    jar = kjar(SNAPSHOT)
    maven_repo.publish(SNAPSHOT, jar, local=True)

    artifact = fetch(maven_repo.url, SNAPSHOT)

    assert artifact.resolved_version == "1.1.0-SNAPSHOT"
    assert artifact.url.endswith("/orders-kjar-1.1.0-SNAPSHOT.jar")
    assert artifact.content == jar


def test_missing_release_is_not_found(maven_repo: MavenRepo) -> None:
    with pytest.raises(ArtifactNotFound) as caught:
        fetch(maven_repo.url, RELEASE)

    error = caught.value
    assert not error.temporary
    path = "com/example/orders/orders-kjar/1.0.0/orders-kjar-1.0.0.jar"
    assert error.url == f"{maven_repo.url}/{path}"
    assert error.url in str(error)
    assert "404" in str(error)


def test_missing_snapshot_is_not_found(maven_repo: MavenRepo) -> None:
    with pytest.raises(ArtifactNotFound, match=r"maven-metadata\.xml does not exist"):
        fetch(maven_repo.url, SNAPSHOT)


def test_snapshot_metadata_listing_no_jar_is_not_found(maven_repo: MavenRepo) -> None:
    version_dir = maven_repo.root / SNAPSHOT.version_path()
    version_dir.mkdir(parents=True)
    (version_dir / "maven-metadata.xml").write_text(
        "<metadata><versioning><snapshotVersions><snapshotVersion><extension>pom</extension>"
        "<value>1.1.0-20240101.000000-1</value></snapshotVersion></snapshotVersions>"
        "</versioning></metadata>"
    )

    with pytest.raises(ArtifactNotFound, match=r"lists no \.jar file"):
        fetch(maven_repo.url, SNAPSHOT)


@pytest.mark.parametrize(
    "metadata",
    [
        b"not xml at all",
        b"<project/>",
        b'<!DOCTYPE m [<!ENTITY a "aaaa">]><metadata>&a;</metadata>',
        b"<metadata><versioning><snapshotVersions><snapshotVersion><extension>jar</extension>"
        b"<value>../../../etc/passwd</value></snapshotVersion></snapshotVersions>"
        b"</versioning></metadata>",
    ],
    ids=["garbage", "wrong-root", "entities", "traversal"],
)
def test_bad_snapshot_metadata_is_invalid(maven_repo: MavenRepo, metadata: bytes) -> None:
    version_dir = maven_repo.root / SNAPSHOT.version_path()
    version_dir.mkdir(parents=True)
    (version_dir / "maven-metadata.xml").write_bytes(metadata)

    with pytest.raises(ArtifactInvalid, match=r"maven-metadata\.xml|snapshot version") as caught:
        fetch(maven_repo.url, SNAPSHOT)
    assert not caught.value.temporary


def test_stopped_repository_is_unavailable(maven_repo: MavenRepo) -> None:
    maven_repo.publish(RELEASE, kjar(RELEASE))
    maven_repo.stop()

    with pytest.raises(MavenUnavailable, match="ConnectError") as caught:
        fetch(maven_repo.url, RELEASE)

    assert caught.value.temporary
    assert maven_repo.url in str(caught.value)


def test_repository_answering_503_is_unavailable(maven_repo: MavenRepo) -> None:
    maven_repo.publish(RELEASE, kjar(RELEASE))
    maven_repo.unavailable = True

    with pytest.raises(MavenUnavailable, match="HTTP 503") as caught:
        fetch(maven_repo.url, RELEASE)
    assert caught.value.temporary

    maven_repo.unavailable = False
    assert fetch(maven_repo.url, RELEASE).resolved_version == "1.0.0"


def test_snapshot_metadata_503_is_unavailable(maven_repo: MavenRepo) -> None:
    maven_repo.unavailable = True

    with pytest.raises(MavenUnavailable, match=r"maven-metadata\.xml"):
        fetch(maven_repo.url, SNAPSHOT)


def test_artifact_over_the_limit_is_invalid(maven_repo: MavenRepo) -> None:
    jar = build_kjar({"big.bpmn": bytes(range(256)) * 4096})
    maven_repo.publish(RELEASE, jar)

    with pytest.raises(ArtifactInvalid, match=f"over the limit of {len(jar) - 1}") as caught:
        fetch(maven_repo.url, RELEASE, max_bytes=len(jar) - 1)
    assert not caught.value.temporary


def test_body_is_read_only_up_to_the_limit_whatever_the_headers() -> None:
    produced: list[int] = []

    async def run() -> None:
        hung_up = asyncio.Event()

        async def endless(request: web.Request) -> web.StreamResponse:
            # No Content-Length: the body goes out chunked, and never ends.
            response = web.StreamResponse()
            await response.prepare(request)
            assert request.transport is not None
            # With next to no buffers between the ends, what the server has produced is what the
            # client has read, give or take a few KiB.
            small_buffers(request.transport.get_extra_info("socket"), socket.SO_SNDBUF)
            request.transport.set_write_buffer_limits(high=0)
            try:
                while True:
                    produced.append(1)
                    await response.write(b"\0" * 65536)
            finally:
                hung_up.set()

        def client_socket(address: AddrInfoType) -> socket.socket:
            family, kind, proto, _, _ = address
            sock = socket.socket(family, kind, proto)
            small_buffers(sock, socket.SO_RCVBUF)
            return sock

        async with (
            TestServer(serving(endless), host="127.0.0.1", port=0) as server,
            aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(socket_factory=client_socket),
                timeout=aiohttp.ClientTimeout(total=5),
            ) as client,
        ):
            url = str(server.make_url("/maven2"))
            with pytest.raises(ArtifactInvalid, match="over the limit of 1048576"):
                await fetch_artifact(MavenHttp(client), url, RELEASE, max_bytes=MIB)
            # The client hangs up at once rather than keep the connection (and the server) busy.
            await asyncio.wait_for(hung_up.wait(), 5)

    asyncio.run(run())
    assert len(produced) <= 17


def test_checksum_mismatch_is_invalid(maven_repo: MavenRepo) -> None:
    published = maven_repo.publish(RELEASE, kjar(RELEASE))
    (maven_repo.root / (published.path + ".sha1")).write_text("0" * 40)

    with pytest.raises(ArtifactInvalid, match="does not match its checksum"):
        fetch(maven_repo.url, RELEASE)


def test_missing_checksum_is_accepted(maven_repo: MavenRepo) -> None:
    published = maven_repo.publish(RELEASE, kjar(RELEASE))
    (maven_repo.root / (published.path + ".sha1")).unlink()

    assert fetch(maven_repo.url, RELEASE).resolved_version == "1.0.0"


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (429, MavenUnavailable),
        (500, MavenUnavailable),
        (502, MavenUnavailable),
        (401, RepositoryError),
        (403, RepositoryError),
        (400, RepositoryError),
        (410, ArtifactNotFound),
    ],
)
def test_http_status_classification(status: int, error: type[MavenError]) -> None:
    async def answer(request: web.Request) -> web.Response:
        return web.Response(status=status)

    with pytest.raises(error, match=str(status) if status != 410 else "not found"):
        fetch_from(answer)


def test_timeout_is_unavailable() -> None:
    async def silent(request: web.Request) -> web.Response:
        await asyncio.sleep(60)  # Cancelled when the client hangs up.
        return web.Response()

    with pytest.raises(MavenUnavailable, match="ReadTimeout"):
        fetch_from(silent, timeout=0.2)


def test_redirects_are_followed(maven_repo: MavenRepo) -> None:
    jar = kjar(RELEASE)
    maven_repo.publish(RELEASE, jar)

    async def moved(request: web.Request) -> web.StreamResponse:
        # A repository that moved: every path redirects to the same path at the new place.
        raise web.HTTPMovedPermanently(maven_repo.url + request.path.removeprefix("/maven2"))

    artifact = fetch_from(moved)

    assert artifact.content == jar
    assert artifact.url.endswith("/orders-kjar-1.0.0.jar")
    assert any(p.endswith("/orders-kjar-1.0.0.jar.sha1") for p in maven_repo.requested_paths)


async def redirect_loop(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound(request.path)


async def redirect_to_ftp(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("ftp://repo.test" + request.path)


async def garbled_gzip(request: web.Request) -> web.StreamResponse:
    return web.Response(body=b"not gzip at all", headers={"Content-Encoding": "gzip"})


async def cut_short(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Length": "100000"})
    await response.prepare(request)
    await response.write(b"\0" * 1000)
    assert request.transport is not None
    request.transport.close()
    return response


@pytest.mark.parametrize(
    ("handler", "error", "match"),
    [
        (redirect_loop, RepositoryError, "TooManyRedirects"),
        (redirect_to_ftp, RepositoryError, "UnsupportedProtocol"),
        (garbled_gzip, RepositoryError, "DecodingError"),
        (cut_short, MavenUnavailable, "RemoteProtocolError"),
    ],
    ids=["redirect-loop", "redirect-to-ftp", "garbled-gzip", "cut-short"],
)
def test_broken_answers(handler: Handler, error: type[MavenError], match: str) -> None:
    with pytest.raises(error, match=match) as caught:
        fetch_from(handler)
    assert str(caught.value.url).endswith("/orders-kjar-1.0.0.jar")


@pytest.mark.parametrize(
    "url", ["ftp://repo.test/maven2", "not a url", "http://repo.test/maven2?x=1", "file:///tmp"]
)
def test_invalid_repository_url(url: str) -> None:
    with pytest.raises(RepositoryError, match="invalid Maven repository URL"):
        fetch(url, RELEASE)


@pytest.mark.parametrize(
    ("group_id", "artifact_id", "version"),
    [
        ("com..example", "a", "1.0"),
        ("com.example", "..", "1.0"),
        ("com.example", "a", "1.0/../../x"),
        ("com/example", "a", "1.0"),
        (".com", "a", "1.0"),
        ("com.example", "", "1.0"),
        ("com.example", "a b", "1.0"),
        ("com.example", "a", "."),
    ],
)
def test_invalid_coordinates(group_id: str, artifact_id: str, version: str) -> None:
    with pytest.raises(CoordinatesError, match="invalid Maven"):
        MavenCoordinates(group_id, artifact_id, version)
    with pytest.raises(ValueError, match="invalid Maven"):
        MavenCoordinates(group_id, artifact_id, version)


def test_parse_coordinates() -> None:
    assert MavenCoordinates.parse("org.kie:kjar:1.0-SNAPSHOT") == MavenCoordinates(
        "org.kie", "kjar", "1.0-SNAPSHOT"
    )
    assert MavenCoordinates.parse("org.kie:kjar:1.0:kjar").extension == "jar"
    assert str(RELEASE) == "com.example.orders:orders-kjar:1.0.0"
    with pytest.raises(CoordinatesError):
        MavenCoordinates.parse("org.kie:kjar")


def test_the_environment_s_proxy_is_looked_up_once_per_origin_and_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A loopback server stands in for the proxy. The host the repository URL names (.invalid)
    # does not resolve, so only requests through the proxy can succeed.
    jar = kjar(RELEASE)
    asked: list[str] = []

    async def proxy(request: web.Request) -> web.StreamResponse:
        asked.append(str(request.url))
        if request.path.endswith(".jar"):
            return web.Response(body=jar)
        return web.Response(status=404)

    monkeypatch.setenv("NO_PROXY", "direct.invalid")
    monkeypatch.delenv("http_proxy", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)

    async def run() -> MavenHttp:
        async with (
            TestServer(serving(proxy), host="127.0.0.1", port=0) as server,
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session,
        ):
            monkeypatch.setenv("HTTP_PROXY", str(server.make_url("/")))
            client = MavenHttp(session, trust_env=True)
            # Without trust_env the environment is ignored.
            assert MavenHttp(session).route(URL("http://repo.invalid/x")).proxy is None
            found = await fetch_artifact(
                client, "http://repo.invalid/maven2", RELEASE, max_bytes=MIB
            )
            assert found.content == jar
            # Looked up once: a later change of the environment no longer applies.
            monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
            await fetch_artifact(client, "http://repo.invalid/maven2", RELEASE, max_bytes=MIB)
            return client

    client = asyncio.run(run())
    assert len(asked) == 4  # the jar and its checksum, twice
    assert all(url.startswith("http://repo.invalid/maven2/com/example/orders/") for url in asked)
    assert client.route(URL("http://direct.invalid/x")).proxy is None
