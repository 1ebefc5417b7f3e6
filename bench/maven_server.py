"""A Maven repository directory served over HTTP/1.1 (keep-alive) from a process of its own.

    .venv/bin/python bench/maven_server.py ROOT PORT

The tests' repository (tests/support/maven_repo.py) is a thread of the test process speaking
HTTP/1.0, which suits tests that stop it or make it fail. A benchmark needs the repository the
way production has it, a separate server that keeps connections open: as a thread it would share
the benchmark's interpreter lock with the client whose latencies it measures.
"""

import sys
from pathlib import Path

from aiohttp import web

from devcluster.kjars import REPOSITORY_PATH

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    root, port = Path(sys.argv[1]), int(sys.argv[2])
    app = web.Application()
    app.router.add_static(REPOSITORY_PATH, root)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
