"""Test Maven repository: kjars laid out like `mvn deploy` (devcluster.kjars), served over HTTP.

Conftest files (and test modules) use the fixture by importing it:
`from tests.support.maven_repo import maven_repo_fixture  # noqa: F401`; it is named `maven_repo`.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from datetime import datetime
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from deployunits.content.maven import MavenCoordinates
from devcluster.kjars import REPOSITORY_PATH, Published, publish


class _RepositoryHandler(SimpleHTTPRequestHandler):
    server: _RepositoryServer

    def do_GET(self) -> None:
        self.server.requested_paths.append(self.path)
        if self._refuse():
            return
        super().do_GET()

    def do_HEAD(self) -> None:
        if self._refuse():
            return
        super().do_HEAD()

    def _refuse(self) -> bool:
        if self.server.unavailable:
            self.send_error(503, "repository down (simulated)")
            return True
        if not (self.path + "/").startswith(REPOSITORY_PATH + "/"):
            self.send_error(404, "outside the repository")
            return True
        return False

    def translate_path(self, path: str) -> str:
        return super().translate_path(path.removeprefix(REPOSITORY_PATH) or "/")

    def log_message(self, format: str, *args: Any) -> None:
        pass  # Keep test output readable; requested_paths records what was asked.


class _RepositoryServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, root: Path) -> None:
        self.unavailable = False
        self.requested_paths: list[str] = []
        handler = functools.partial(_RepositoryHandler, directory=str(root))
        super().__init__(("127.0.0.1", 0), handler)


class MavenRepo:
    """A Maven repository directory served over HTTP on 127.0.0.1 at a free port."""

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self._server = _RepositoryServer(root)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}{REPOSITORY_PATH}"
        # A short poll interval keeps stop() (which waits for one poll) from slowing tests down.
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.02,), name="maven-repo", daemon=True
        )
        self._thread.start()
        self._stopped = False

    @property
    def unavailable(self) -> bool:
        """While True every request gets HTTP 503, as from a repository that is down."""
        return self._server.unavailable

    @unavailable.setter
    def unavailable(self, value: bool) -> None:
        self._server.unavailable = value

    @property
    def requested_paths(self) -> list[str]:
        """Request paths received so far (GET only), in order."""
        return self._server.requested_paths

    def publish(
        self,
        coords: MavenCoordinates,
        jar_bytes: bytes,
        snapshot_timestamp: datetime | None = None,
        *,
        local: bool = False,
    ) -> Published:
        return publish(self.root, coords, jar_bytes, snapshot_timestamp, local=local)

    def url_of(self, published: Published) -> str:
        return f"{self.url}/{published.path}"

    def stop(self) -> None:
        """Close the listening socket: afterwards connections are refused. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


@pytest.fixture(name="maven_repo")
def maven_repo_fixture(tmp_path: Path) -> Iterator[MavenRepo]:
    """A running `MavenRepo` rooted in the test's tmp_path; stopped after the test."""
    repo = MavenRepo(tmp_path / "maven-repo")
    try:
        yield repo
    finally:
        repo.stop()
