"""Dialect-neutral auth: credentials from headers, the decision cache, mode none."""

import asyncio
import base64
from typing import Any, cast

from deployunits.api.auth import (
    Access,
    AllowAll,
    KubernetesAuthorizer,
    TtlCache,
    Verdict,
    credentials_from,
)
from deployunits.k8s.raw import KubeClient
from deployunits.k8s.reviews import Reviews


def test_credentials_from_bearer_and_basic() -> None:
    assert credentials_from("Bearer abc.def") == "abc.def"
    assert credentials_from("bearer  tok ") == "tok"
    basic = base64.b64encode(b"anyone:the-token").decode()
    assert credentials_from(f"Basic {basic}") == "the-token"
    assert credentials_from(f"Basic {base64.b64encode(b'user-only').decode()}") is None
    assert credentials_from("Basic !!!") is None
    assert credentials_from("Digest x") is None
    assert credentials_from(None) is None
    assert credentials_from("Bearer ") is None


def test_ttl_cache_expires_and_is_bounded() -> None:
    cache: TtlCache[str, int] = TtlCache(max_entries=2)
    cache.put("a", 1, 60)
    cache.put("b", 2, 60)
    cache.put("c", 3, 60)
    assert cache.get("a") is None
    assert cache.get("c") == 3
    cache.put("gone", 4, -1)
    assert cache.get("gone") is None
    cache.put("short", 5, 1e-9)
    assert cache.get("short") is None


def test_mode_none_allows() -> None:
    decision = asyncio.run(AllowAll().decide(None, Access(namespace="ns", verb="delete")))
    assert decision.verdict is Verdict.ALLOWED
    assert decision.allowed


class RefusingApiServer:
    """Answers every TokenReview with "not authenticated", and counts them."""

    def __init__(self) -> None:
        self.reviews = 0

    async def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        assert body["kind"] == "TokenReview", body
        self.reviews += 1
        return {"status": {"authenticated": False, "error": "invalid bearer token"}}


def test_a_refused_token_is_reviewed_once_within_the_deny_cache() -> None:
    # Found by the auth drill: a cached refusal was taken for a miss, so every request with a
    # bad token cost the API server a TokenReview.
    server = RefusingApiServer()
    authorizer = KubernetesAuthorizer(
        Reviews(cast(KubeClient, server)), audiences=[], cache_seconds=60
    )
    access = Access(namespace="ns", verb="list")

    async def ask_three_times() -> list[Verdict]:
        return [(await authorizer.decide("bad", access)).verdict for _ in range(3)]

    assert asyncio.run(ask_three_times()) == [Verdict.UNAUTHENTICATED] * 3
    assert server.reviews == 1
