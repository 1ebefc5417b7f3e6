"""Errors of the jBPM dialect: JaxbRestRequestException XML bodies, never a stack trace.

kie-remote's DescriptiveExceptionHandler answers `<exception>` with `status`, `url` and, except
for 400 and 404, `message` (`<Class> thrown with message '<msg>'`) and the stack trace. The shim
keeps the message for 400 too (it is the only place the engine's text for a bad parameter could
be read) and never sends a stack trace. The body is XML even when JSON was negotiated; it is
labelled application/xml. Routes that do not match (an id outside the pattern) and methods a
route does not have are bare 404 and 405 answers, as from the JAX-RS runtime. `from_exception`
renders the dialect-neutral failures of `api/errors.py` in this shape.
"""

from collections.abc import Mapping

from fastapi.responses import Response

from deployunits.api import errors
from deployunits.api.auth import Decision
from deployunits.api.jbpm.wire import XML_MEDIA_TYPE, RequestStatus, RestRequestException, to_xml

#: The exception class the engine names in messages.
EXCEPTION_CLASS = "KieRemoteRestOperationException"
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
    return JbpmError(503, message, headers=errors.RETRY_LATER)


def internal(message: str) -> JbpmError:
    return JbpmError(500, message)


def bare(status: int, headers: Mapping[str, str] | None = None) -> JbpmError:
    """What the JAX-RS runtime answers for unmatched routes, methods and media types."""
    return JbpmError(status, headers=headers, bare=True)


def refused(decision: Decision) -> JbpmError:
    """401 (no or an invalid token) or 403 (a SubjectAccessReview said no) for a decision."""
    refusal = errors.Refused(decision)
    if refusal.unauthenticated:
        return JbpmError(
            401,
            refusal.unauthenticated_message,
            headers={"WWW-Authenticate": f'Bearer realm="{REALM}", Basic realm="{REALM}"'},
        )
    access = decision.access
    return JbpmError(
        403,
        f"User '{refusal.user}' may not {access.verb} {access.resource} in namespace "
        f"'{access.namespace}'" + (f": {decision.reason}" if decision.reason else ""),
    )


#: The jBPM error for anything a route, a dependency or the router raised.
from_exception = errors.Renderer(
    own=JbpmError,
    refused=refused,
    unavailable=unavailable,
    invalid=lambda: bad_request("The request is not valid."),
    unmatched=bare,
    internal=internal,
).render
