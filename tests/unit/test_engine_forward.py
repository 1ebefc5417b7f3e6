"""What the engines gateway's forwarder passes on, and what it never forwards.

Matrix: paths under `deployment` and `engine` refused however spelled (case, percent-encoding,
matrix parameters), dot segments and encoded slashes refused, other paths allowed; hop-by-hop
headers, headers a Connection header names, the caller's Authorization, Host and Expect stay
behind in both directions (answers keep repeated headers).
"""

import pytest

from deployunits.engines import forwardable
from deployunits.engines.forward import HOP_BY_HOP, end_to_end_headers, headers_from_caller


@pytest.mark.parametrize(
    "path",
    [
        "deployment/create",
        "deployment",
        "Deployment/create",
        "DEPLOYMENT;jsessionid=1/create",
        "deploym%65nt/create",
        "engine/default/deployment/create",
        "engine",
        "process-definition/../deployment/create",
        "process-definition/%2e%2e/deployment/create",
        "process-definition%2F..%2Fdeployment/create",
        "task/.",
        "a%5cb",
        "",
    ],
)
def test_deployments_other_engines_and_tricks_are_never_forwarded(path: str) -> None:
    assert not forwardable(path.split("/"))


@pytest.mark.parametrize(
    "path",
    [
        "process-definition/count",
        "process-definition/key/invoice/start",
        "history/process-instance",
        "task/a%20b/complete",
        "deployments-report",
        "version",
    ],
)
def test_other_paths_are_forwarded(path: str) -> None:
    assert forwardable(path.split("/"))


def test_callers_credentials_and_hop_by_hop_headers_stay_behind() -> None:
    sent = headers_from_caller(
        [
            ("Authorization", "Bearer caller"),
            ("Host", "shim:8080"),
            ("Connection", "keep-alive, X-Private"),
            ("X-Private", "1"),
            ("Transfer-Encoding", "chunked"),
            ("Expect", "100-continue"),
            ("Content-Type", "application/json"),
            ("Accept", "application/json"),
        ]
    )
    assert sent == [("content-type", "application/json"), ("accept", "application/json")]


def test_answers_keep_repeated_headers_without_hop_by_hop_ones() -> None:
    kept = end_to_end_headers(
        [
            (b"Content-Type", b"application/json"),
            (b"Set-Cookie", b"a=1"),
            (b"Set-Cookie", b"b=2"),
            (b"Transfer-Encoding", b"chunked"),
            (b"Connection", b"close, X-Hop"),
            (b"X-Hop", b"1"),
        ]
    )
    assert kept == [
        (b"Content-Type", b"application/json"),
        (b"Set-Cookie", b"a=1"),
        (b"Set-Cookie", b"b=2"),
    ]
    assert "upgrade" in HOP_BY_HOP
