"""Camunda's error bodies ({"type", "message", "code"} and its variants) and their statuses."""

from collections.abc import Mapping
from typing import Any

from fastapi.responses import JSONResponse

from deployunits.api.auth import Decision, Verdict

#: Permission names Camunda would check for each Kubernetes verb.
_PERMISSIONS = {"get": "READ", "list": "READ", "create": "CREATE", "delete": "DELETE"}
#: Seconds a client should wait before retrying when the API server is unavailable.
RETRY_AFTER_SECONDS = 5


class CamundaError(Exception):
    """An error answered in Camunda's ExceptionDto shape (or a subclass of it)."""

    def __init__(
        self,
        status: int,
        type_: str,
        message: str,
        *,
        code: int | None = None,
        extra: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.type = type_
        self.message = message
        self.code = code
        self.extra = dict(extra or {})
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return {"type": self.type, "message": self.message, "code": self.code, **self.extra}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers or None)


def invalid_request(status: int, message: str) -> CamundaError:
    """The REST layer's InvalidRequestException (code null)."""
    return CamundaError(status, "InvalidRequestException", message)


def rest_exception(status: int, message: str) -> CamundaError:
    """The REST layer's RestException (code null)."""
    return CamundaError(status, "RestException", message)


def engine_error(status: int, type_: str, message: str) -> CamundaError:
    """An engine exception (code 0, the engine's fallback code)."""
    return CamundaError(status, type_, message, code=0)


def web_error(status: int) -> CamundaError:
    """What the JAX-RS runtime raises for unmatched routes, methods and media types."""
    types = {
        404: ("NotFoundException", "HTTP 404 Not Found"),
        405: ("NotAllowedException", "HTTP 405 Method Not Allowed"),
        406: ("NotAcceptableException", "HTTP 406 Not Acceptable"),
        408: ("WebApplicationException", "HTTP 408 Request Timeout"),
        413: ("WebApplicationException", "HTTP 413 Request Entity Too Large"),
        415: ("NotSupportedException", "HTTP 415 Unsupported Media Type"),
    }
    type_, message = types.get(status, ("WebApplicationException", f"HTTP {status}"))
    return CamundaError(status, type_, message)


def unavailable(message: str) -> CamundaError:
    """503 with Retry-After: the API server (the engine's database) cannot be reached."""
    return CamundaError(
        503,
        "ProcessEngineException",
        message,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def internal(message: str) -> CamundaError:
    """500 without a stack trace."""
    return engine_error(500, "ProcessEngineException", message)


def refused(decision: Decision, resource_id: str | None = None) -> CamundaError:
    """401 or 403 for a refused decision; 403 carries Camunda's AuthorizationException body."""
    if decision.verdict is Verdict.UNAUTHENTICATED:
        return CamundaError(
            401,
            "AuthenticationException",
            f"Unauthorized: {decision.reason or 'authentication required'}",
            headers={"WWW-Authenticate": 'Bearer realm="engine-rest"'},
        )
    user = decision.caller.username if decision.caller else ""
    permission = _PERMISSIONS.get(decision.access.verb, decision.access.verb.upper())
    resource = "Deployment"
    target = f"{resource_id}' of type '{resource}" if resource_id else resource
    message = (
        f"The user with id '{user}' does not have '{permission}' permission on resource '{target}'."
    )
    return CamundaError(
        403,
        "AuthorizationException",
        message,
        code=0,
        extra={
            "userId": user,
            "resourceName": resource,
            "resourceId": resource_id,
            "permissionName": permission,
            "missingAuthorizations": [
                {"permissionName": permission, "resourceName": resource, "resourceId": resource_id}
            ],
        },
    )
