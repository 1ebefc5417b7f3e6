"""Errors of the jBPM dialect: JaxbRestRequestException XML bodies, and a route class that
renders every failure of a jBPM route in that shape (never a stack trace).

kie-remote's DescriptiveExceptionHandler answers `<exception>` with `status`, `url` and, except
for 400 and 404, `message` (`<Class> thrown with message '<msg>'`) and the stack trace. The shim
keeps the message for 400 too (it is the only place the engine's text for a bad parameter could
be read) and never sends a stack trace. The body is XML even when JSON was negotiated; it is
labelled application/xml. Routes that do not match (an id outside the pattern) and methods a
route does not have are bare 404 and 405 answers, as from the JAX-RS runtime.
"""

import logging
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from deployunits.api.auth import Decision, Verdict
from deployunits.api.cache import CacheNotReady
from deployunits.api.jbpm.wire import XML_MEDIA_TYPE, RequestStatus, RestRequestException, to_xml
from deployunits.api.timeouts import BodyTimedOut
from deployunits.k8s.errors import ApiError, ApiUnavailable

logger = logging.getLogger(__name__)

#: The exception class the engine names in messages.
EXCEPTION_CLASS = "KieRemoteRestOperationException"
RETRY_AFTER_SECONDS = 5
REALM = "business-central"
_STATUSES = {
    400: RequestStatus.BAD_REQUEST,
    403: RequestStatus.FORBIDDEN,
    404: RequestStatus.NOT_FOUND,
    409: RequestStatus.PERMISSIONS_CONFLICT,
}


class JbpmError(Exception):
    """An error answered with a JaxbRestRequestException body (or with no body at all)."""

    def __init__(
        self,
        status: int,
        message: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        bare: bool = False,
    ) -> None:
        super().__init__(message or f"HTTP {status}")
        self.status = status
        self.message = message
        self.headers = dict(headers or {})
        self.bare = bare

    def body(self, url: str) -> RestRequestException:
        status = _STATUSES.get(self.status, RequestStatus.FAILURE)
        message = (
            f"{EXCEPTION_CLASS} thrown with message '{self.message}'"
            if self.message is not None
            else None
        )
        return RestRequestException(status=status, url=url, message=message)

    def response(self, url: str) -> Response:
        if self.bare:
            return Response(status_code=self.status, headers=self.headers or None)
        return Response(
            to_xml(self.body(url)),
            status_code=self.status,
            media_type=XML_MEDIA_TYPE,
            headers=self.headers or None,
        )


def bad_request(message: str) -> JbpmError:
    return JbpmError(400, message)


def unavailable(message: str) -> JbpmError:
    return JbpmError(503, message, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


def internal(message: str) -> JbpmError:
    return JbpmError(500, message)


def bare(status: int, headers: Mapping[str, str] | None = None) -> JbpmError:
    """What the JAX-RS runtime answers for unmatched routes, methods and media types."""
    return JbpmError(status, headers=headers, bare=True)


def refused(decision: Decision) -> JbpmError:
    """401 (no or an invalid token) or 403 (a SubjectAccessReview said no) for a decision."""
    if decision.verdict is Verdict.UNAUTHENTICATED:
        return JbpmError(
            401,
            f"Unauthorized: {decision.reason or 'authentication required'}",
            headers={"WWW-Authenticate": f'Bearer realm="{REALM}", Basic realm="{REALM}"'},
        )
    user = decision.caller.username if decision.caller else ""
    access = decision.access
    return JbpmError(
        403,
        f"User '{user}' may not {access.verb} {access.resource} in namespace "
        f"'{access.namespace}'" + (f": {decision.reason}" if decision.reason else ""),
    )


def from_exception(error: Exception) -> JbpmError:
    """The jBPM error for anything a route raised."""
    match error:
        case JbpmError():
            return error
        case BodyTimedOut():
            # The rest of the body may still come: the connection cannot be reused.
            return bare(408, {"Connection": "close"})
        case StarletteHTTPException():
            return bare(error.status_code, error.headers)
        case RequestValidationError():
            return bad_request("The request is not valid.")
        case CacheNotReady():
            return unavailable(str(error))
        case ApiUnavailable() | ApiError(retryable=True):
            # A starting API server answers 503 and 429 until it serves every kind again.
            logger.warning("API server unavailable: %s", error)
            return unavailable("The Kubernetes API server is unavailable; retry later.")
        case ApiError():
            logger.error("API server refused a call of the shim: %s", error)
            return internal(
                f"The Kubernetes API server refused the shim's request: {error.message}"
            )
        case TimeoutError():
            return unavailable("The shim's view of the API server is lagging; retry later.")
    logger.exception("unexpected error in a jBPM route", exc_info=error)
    return internal(f"Unexpected error: {type(error).__name__}")


def unmatched(request: Request, error: StarletteHTTPException) -> Response:
    """The bare answer for a path under the jBPM prefix that no route matched."""
    return bare(error.status_code, error.headers).response(str(request.url))


class JbpmRoute(APIRoute):
    """A route whose every failure (dependencies included) is answered in the jBPM shape."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as error:  # every failure gets the dialect's error body
                return from_exception(error).response(str(request.url))

        return handle
