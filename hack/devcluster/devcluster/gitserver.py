"""A Git server over smart HTTP (`git http-backend` behind loopback stdlib), for GitOps runs.

Flux's Git client cannot read the dumb HTTP protocol and GitRepository allows no `git://`, so
the repositories are served the way a forge serves them; `GitFolder` is the working copy a test
commits and pushes from.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit


def git(*args: str, cwd: Path) -> str:
    """Run git; fail with its stderr."""
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed:\n{result.stderr}")
    return result.stdout


class _Backend(BaseHTTPRequestHandler):
    """Hands each request to `git http-backend` as CGI and relays its answer."""

    server: _GitHTTPServer

    def do_GET(self) -> None:
        self._cgi()

    def do_POST(self) -> None:
        self._cgi()

    def _cgi(self) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        env = {
            "PATH": "/usr/bin:/bin",
            "GIT_PROJECT_ROOT": str(self.server.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": url.path,
            "QUERY_STRING": url.query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_ADDR": self.client_address[0],
            # git http-backend refuses pushes from an unauthenticated user unless told otherwise.
            "REMOTE_USER": "tests",
        }
        if self.headers.get("Content-Encoding"):
            env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
        if self.headers.get("Git-Protocol"):
            env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
        result = subprocess.run(
            ["git", "http-backend"], input=body, env=env, capture_output=True, check=False
        )
        head, _, payload = result.stdout.partition(b"\r\n\r\n")
        status = 200
        headers: list[tuple[str, str]] = []
        for line in head.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the controllers poll."""


class _GitHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, root: Path) -> None:
        super().__init__(("127.0.0.1", 0), _Backend)
        self.root = root


@dataclass
class GitFolder:
    """A working copy whose pushes land in a bare repository the server serves."""

    path: Path
    url: str

    def commit_and_push(self, message: str) -> str:
        """Commit everything and push to main; the new commit's id."""
        git("add", "--all", ".", cwd=self.path)
        git("commit", "--quiet", "--allow-empty", "-m", message, cwd=self.path)
        git("push", "--quiet", "origin", "HEAD:main", cwd=self.path)
        return git("rev-parse", "HEAD", cwd=self.path).strip()


class GitServer:
    """Bare repositories under `root`, served over smart HTTP on a free loopback port."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._server = _GitHTTPServer(root)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def repository(self, name: str, content: Path, workdir: Path) -> GitFolder:
        """A new repository `name`.git whose first commit holds a copy of the folder `content`."""
        bare = self.root / f"{name}.git"
        git("init", "--quiet", "--bare", "--initial-branch=main", str(bare), cwd=self.root)
        # Served over HTTP, pushes included.
        git("config", "http.receivepack", "true", cwd=bare)
        url = f"{self.url}/{name}.git"
        shutil.copytree(content, workdir)
        git("init", "--quiet", "--initial-branch=main", cwd=workdir)
        git("config", "user.name", "deployunits tests", cwd=workdir)
        git("config", "user.email", "tests@deployunits.invalid", cwd=workdir)
        git("remote", "add", "origin", url, cwd=workdir)
        folder = GitFolder(workdir, url)
        folder.commit_and_push("Add the units")
        return folder
