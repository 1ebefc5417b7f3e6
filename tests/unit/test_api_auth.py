"""Dialect-neutral auth: credentials from headers, the decision cache, mode none."""

import asyncio
import base64

from deployunits.api.auth import Access, AllowAll, TtlCache, Verdict, credentials_from


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
