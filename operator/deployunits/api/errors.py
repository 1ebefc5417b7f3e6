"""Failures both dialects answer alike, as dialect-neutral values that each dialect renders.

`failure_of` maps what is not about one dialect to a `Failure`: the API server unreachable or
asking to be called again (503 with Retry-After), a view of it that lags (a timeout, also 503),
the API server refusing the shim's own request (500: the shim sent what it should not have),
a request that fits no route or too slow a body, and bugs (500 without a trace). `Refused` is a
caller's refused authorization. `camunda/errors.py` and `jbpm/errors.py` each give a `Renderer`
that shapes both in their dialect; `app.py` installs the handlers and picks it by the path.
"""

import enum
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from deployunits.api.auth import Decision, Verdict
from deployunits.api.cache import CacheNotReady
from deployunits.api.timeouts import BodyTimedOut
from deployunits.k8s.errors import ApiError, ApiUnavailable

logger = logging.getLogger(__name__)

E = TypeVar("E", bound=Exception)

#: Seconds a client should wait before retrying when the API server is unavailable.
RETRY_AFTER_SECONDS = 5
RETRY_LATER = {"Retry-After": str(RETRY_AFTER_SECONDS)}
#: The rest of a late body may still come: the connection cannot be reused.
CLOSE = {"Connection": "close"}


class Kind(enum.Enum):
    """What went wrong, as far as the dialects tell failures apart."""

    #: The API server cannot answer now: 503 with Retry-After.
    UNAVAILABLE = enum.auto()
    #: The API server refused the shim's own request: 500.
    REFUSED = enum.auto()
    #: A bug: 500, without a trace.
    UNEXPECTED = enum.auto()
    #: The request's parameters do not fit the route: 400.
    INVALID = enum.auto()
    #: No route, method or media type for the request: the web runtime's own status.
    UNMATCHED = enum.auto()
    #: The request body did not arrive in time: 408, and the connection is closed.
    BODY_TIMED_OUT = enum.auto()


@dataclass(frozen=True)
class Failure:
    """A failure as both dialects see it; each words and shapes it its own way."""

    kind: Kind
    status: int
    message: str
    headers: Mapping[str, str] = field(default_factory=dict)


def unavailable(message: str) -> Failure:
    """503 with Retry-After: the caller should retry later."""
    return Failure(Kind.UNAVAILABLE, 503, message, RETRY_LATER)


def failure_of(error: Exception) -> Failure:
    """The dialect-neutral failure for anything a route, a dependency or the router raised."""
    match error:
        case StarletteHTTPException():
            return Failure(
                Kind.UNMATCHED, error.status_code, str(error.detail), error.headers or {}
            )
        case RequestValidationError():
            return Failure(Kind.INVALID, 400, "invalid request")
        case BodyTimedOut():
            return Failure(Kind.BODY_TIMED_OUT, 408, str(error), CLOSE)
        case CacheNotReady():
            return unavailable(str(error))
        case ApiUnavailable() | ApiError(retryable=True):
            # A starting API server answers 503 and 429 until it serves every kind again.
            logger.warning("API server unavailable: %s", error)
            return unavailable("The Kubernetes API server is unavailable; retry later.")
        case ApiError():
            logger.error("API server refused a call of the shim: %s", error)
            return Failure(
                Kind.REFUSED,
                500,
                f"The Kubernetes API server refused the shim's request: {error.message}",
            )
        case TimeoutError():
            return unavailable("The shim's view of the API server is lagging; retry later.")
    return Failure(Kind.UNEXPECTED, 500, f"Unexpected error: {type(error).__name__}")


class Refused(Exception):
    """The caller may not do what it asked: 401 without valid credentials, else 403."""

    def __init__(self, decision: Decision) -> None:
        super().__init__(decision.reason or decision.verdict.value)
        self.decision = decision

    @property
    def unauthenticated(self) -> bool:
        return self.decision.verdict is Verdict.UNAUTHENTICATED

    @property
    def status(self) -> int:
        return 401 if self.unauthenticated else 403

    @property
    def unauthenticated_message(self) -> str:
        """The 401 message, the same in both dialects."""
        return f"Unauthorized: {self.decision.reason or 'authentication required'}"

    @property
    def user(self) -> str:
        """The caller's user name ('' when unknown)."""
        caller = self.decision.caller
        return caller.username if caller else ""


@dataclass(frozen=True)
class Renderer(Generic[E]):
    """How a dialect shapes each failure, as an error of its own type `E`."""

    #: The dialect's own errors, answered as they are.
    own: type[E]
    refused: Callable[[Decision], E]
    unavailable: Callable[[str], E]
    #: The request's parameters do not fit the route.
    invalid: Callable[[], E]
    #: The web runtime's own answer for a status (no route, method, media type; a late body).
    unmatched: Callable[[int, Mapping[str, str]], E]
    internal: Callable[[str], E]

    def render(self, error: Exception) -> E:
        """The dialect's error for anything a route, a dependency or the router raised."""
        if isinstance(error, self.own):
            return error
        if isinstance(error, Refused):
            return self.refused(error.decision)
        failure = failure_of(error)
        match failure.kind:
            case Kind.UNAVAILABLE:
                return self.unavailable(failure.message)
            case Kind.INVALID:
                return self.invalid()
            case Kind.UNMATCHED | Kind.BODY_TIMED_OUT:
                return self.unmatched(failure.status, failure.headers)
        return self.internal(failure.message)
