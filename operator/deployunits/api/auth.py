"""Caller authentication and authorization, dialect-neutral: TokenReview, SubjectAccessReview.

The core answers with a Decision; each REST dialect renders a refused decision in its own error
shape. Decisions are cached briefly so a busy client costs the API server little.
"""

import base64
import binascii
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Generic, Protocol, TypeVar

from deployunits import constants
from deployunits.content.digest import sha256_hex
from deployunits.k8s.reviews import Reviews

logger = logging.getLogger(__name__)


class Verdict(StrEnum):
    """The outcome of a check."""

    ALLOWED = "allowed"
    #: No credentials, or credentials the API server does not accept (HTTP 401).
    UNAUTHENTICATED = "unauthenticated"
    #: A known caller without the right (HTTP 403).
    FORBIDDEN = "forbidden"


@dataclass(frozen=True)
class Access:
    """What a request wants to do, in Kubernetes terms."""

    namespace: str
    verb: str
    resource: str = constants.DEPLOYMENT_UNIT_PLURAL
    name: str | None = None
    #: The API group of `resource` ("" for core kinds such as configmaps).
    group: str = constants.GROUP


@dataclass(frozen=True)
class Caller:
    """An authenticated user as the API server describes it."""

    username: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()


@dataclass(frozen=True)
class Decision:
    """Whether a caller may do something, and who the caller is."""

    verdict: Verdict
    access: Access
    caller: Caller | None = None
    reason: str = ""

    @property
    def allowed(self) -> bool:
        return self.verdict is Verdict.ALLOWED


class Authorizer(Protocol):
    """Decides about one request."""

    async def decide(self, credentials: str | None, access: Access) -> Decision:
        """The decision for a request carrying these credentials (a token, or None)."""
        ...


def credentials_from(authorization: str | None) -> str | None:
    """The token of an Authorization header: `Bearer <token>`, or Basic with the token as password.

    Camunda clients often only know basic authentication; they can send any user name and the
    token as the password.
    """
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer":
        return value or None
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        _, _, password = decoded.partition(":")
        return password or None
    return None


K = TypeVar("K")
V = TypeVar("V")


@dataclass
class TtlCache(Generic[K, V]):
    """A small bounded cache whose entries expire; the oldest entries go first when full."""

    max_entries: int = 10000
    _entries: "OrderedDict[K, tuple[float, V]]" = field(default_factory=OrderedDict)

    def get(self, key: K) -> V | None:
        found = self._entries.get(key)
        if found is None:
            return None
        expires, value = found
        if expires < time.monotonic():
            del self._entries[key]
            return None
        return value

    def put(self, key: K, value: V, ttl: float) -> None:
        if ttl <= 0:
            return
        self._entries[key] = (time.monotonic() + ttl, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)


class AllowAll:
    """Mode `none`: every caller may do everything (the shim then binds to loopback only)."""

    async def decide(self, credentials: str | None, access: Access) -> Decision:
        return Decision(Verdict.ALLOWED, access)


class KubernetesAuthorizer:
    """Mode `kubernetes`: TokenReview for who, SubjectAccessReview for what, both cached."""

    def __init__(
        self,
        reviews: Reviews,
        *,
        audiences: list[str],
        cache_seconds: float,
        max_entries: int = 10000,
    ) -> None:
        self._reviews = reviews
        self._audiences = list(audiences)
        self._ttl = cache_seconds
        # A refusal is remembered for less time than a grant, so a new RoleBinding acts soon.
        self._deny_ttl = min(cache_seconds, 5.0)
        # A refused token is cached as (None,): a bare None could not be told from a miss.
        self._callers: TtlCache[str, tuple[Caller | None]] = TtlCache(max_entries)
        self._verdicts: TtlCache[tuple[Caller, Access], tuple[bool, str]] = TtlCache(max_entries)

    async def decide(self, credentials: str | None, access: Access) -> Decision:
        if not credentials:
            return Decision(Verdict.UNAUTHENTICATED, access, reason="no bearer token")
        caller = await self._authenticate(credentials)
        if caller is None:
            return Decision(Verdict.UNAUTHENTICATED, access, reason="the token is not valid")
        allowed, reason = await self._authorize(caller, access)
        verdict = Verdict.ALLOWED if allowed else Verdict.FORBIDDEN
        return Decision(verdict, access, caller, reason)

    async def _authenticate(self, token: str) -> Caller | None:
        key = sha256_hex(token.encode())
        cached = self._callers.get(key)
        if cached is not None:
            return cached[0]
        spec: dict[str, object] = {"token": token}
        if self._audiences:
            spec["audiences"] = self._audiences
        status = await self._reviews.token(spec)
        if not status.authenticated:
            logger.info("token refused: %s", status.error or "not authenticated")
            self._callers.put(key, (None,), self._deny_ttl)
            return None
        user = status.user
        caller = Caller(
            username=user.username,
            uid=user.uid,
            groups=tuple(user.groups),
            extra=tuple(sorted((k, tuple(v)) for k, v in user.extra.items())),
        )
        self._callers.put(key, (caller,), self._ttl)
        return caller

    async def _authorize(self, caller: Caller, access: Access) -> tuple[bool, str]:
        cached = self._verdicts.get((caller, access))
        if cached is not None:
            return cached
        attributes: dict[str, str] = {
            "namespace": access.namespace,
            "verb": access.verb,
            "group": access.group,
            "resource": access.resource,
        }
        if access.group == constants.GROUP:
            attributes["version"] = constants.VERSION
        if access.name:
            attributes["name"] = access.name
        spec: dict[str, object] = {
            "user": caller.username,
            "groups": list(caller.groups),
            "resourceAttributes": attributes,
        }
        if caller.uid:
            spec["uid"] = caller.uid
        if caller.extra:
            spec["extra"] = {k: list(v) for k, v in caller.extra}
        status = await self._reviews.access(spec)
        result = (status.allowed, status.reason)
        self._verdicts.put((caller, access), result, self._ttl if result[0] else self._deny_ttl)
        return result
