"""The engines gateway's typed failures, and the pure rule that turns an answer into one."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import ClassVar, TypedDict, Unpack

from pydantic import ValidationError

from deployunits.engines.wire import ExceptionBody

__all__ = [
    "UNAVAILABLE_STATUSES",
    "EngineError",
    "EngineNotFound",
    "EngineRefused",
    "EngineUnauthorized",
    "EngineUnavailable",
    "ResourceProblem",
    "classify",
    "unauthorized_message",
    "unavailable_message",
]

# Engine exception codes (BuiltinExceptionCode) that a retry can clear: optimistic locking and
# a database deadlock; the engine answers them with a 500 like any other exception.
_TRANSIENT_CODES = {1: "optimistic locking", 10000: "database deadlock"}
# Exceptions the engine's Spring runtime answers with a 500 when it has no database connection
# to give (its pool exhausted under load, the database away): the engine's state, not a
# verdict on the request.
_TRANSIENT_TYPES = {
    "CannotCreateTransactionException": "no database connection",
    "CannotGetJdbcConnectionException": "no database connection",
}
# How the engine says that the named engine of the path does not exist (400 from the REST
# resources, 404 from the authentication filter): a wrong setting, not a missing deployment.
_NO_ENGINE = re.compile(r"^(No process engine available|Process engine .* not available)")
# An answer body is read only this far into a message (proxies may answer with whole pages).
_MAX_MESSAGE = 4096


@dataclass(frozen=True)
class ResourceProblem:
    """One parse error of one resource, where the engine located it."""

    resource: str
    message: str
    line: int | None = None
    column: int | None = None
    main_element_id: str | None = None
    element_ids: tuple[str, ...] = ()

    def __str__(self) -> str:
        where = [self.resource]
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.column is not None:
            where.append(f"column {self.column}")
        if self.main_element_id:
            where.append(f"element {self.main_element_id}")
        return f"{', '.join(where)}: {self.message}"


class _Details(TypedDict, total=False):
    """What an answer tells of a failure, besides its message (every error may carry it)."""

    status: int | None
    engine_type: str | None
    code: int | None


class EngineError(Exception):
    """A call to an engine failed; `temporary` tells whether retrying later can succeed.

    Messages are built only from the engine's answer and the request's method and path, never
    from the request itself, so credentials cannot appear in them.
    """

    temporary: ClassVar[bool] = False

    def __init__(self, message: str, **details: Unpack[_Details]) -> None:
        super().__init__(message)
        self.message = message
        self.status = details.get("status")
        #: The engine's exception class name (`ParseException`, `ProcessEngineException`, ...).
        self.engine_type = details.get("engine_type")
        self.code = details.get("code")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, status={self.status})"


class EngineRefused(EngineError):
    """The engine answered and will not do it: a 4xx, or a 500 carrying an engine exception."""

    def __init__(
        self,
        message: str,
        *,
        problems: tuple[ResourceProblem, ...] = (),
        **details: Unpack[_Details],
    ) -> None:
        super().__init__(message, **details)
        #: A ParseException's per-resource errors (warnings are left out).
        self.problems = problems


class EngineNotFound(EngineRefused):
    """The engine does not know the deployment, resource or definition asked for (404)."""


class EngineUnauthorized(EngineError):
    """The engine did not accept the credentials, or they lack a right (401/403)."""


class EngineUnavailable(EngineError):
    """The engine could not answer now (network, timeout, 502/503/504, a transient error)."""

    temporary = True


def _body(raw: bytes) -> ExceptionBody | None:
    try:
        loaded = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(loaded, dict):
        return None
    try:
        return ExceptionBody.model_validate(loaded)
    except ValidationError:
        return None


def _problems(body: ExceptionBody) -> tuple[ResourceProblem, ...]:
    return tuple(
        ResourceProblem(
            resource=resource,
            message=problem.message,
            line=problem.line,
            column=problem.column,
            main_element_id=problem.main_element_id,
            element_ids=tuple(problem.element_ids),
        )
        for resource, report in (body.details or {}).items()
        for problem in report.errors
    )


#: Statuses of something that cannot answer now: the engine, or a proxy in front of it.
UNAVAILABLE_STATUSES = frozenset({429, 502, 503, 504})


def unauthorized_message(operation: str, status: int, engine: str, rights: str) -> str:
    """What a 401 or 403 means and what to check; `engine` names the server, `rights` what
    the user needs."""
    reason = "not authenticated" if status == 401 else "not authorized"
    return f"{operation}: {engine} answered {status} ({reason}; check the credentials and {rights})"


def unavailable_message(operation: str, status: int, engine: str) -> str:
    """What one of the UNAVAILABLE_STATUSES means; `engine` names the server."""
    return f"{operation}: {engine} is unavailable ({status})"


def classify(operation: str, status: int, raw: bytes) -> EngineError:
    """The failure an answer with this status and body means (for any status >= 400).

    `operation` names the call for people (for example `POST /deployment/create`).
    """
    body = _body(raw)
    engine_type = body.type if body is not None else None
    code = body.code if body is not None else None
    said = (body.message if body is not None else None) or ""
    said = said[:_MAX_MESSAGE]
    detail = f"{engine_type}: {said}" if engine_type and said else (engine_type or said)
    suffix = f": {detail}" if detail else ""
    details: _Details = {"status": status, "engine_type": engine_type, "code": code}
    if status in (401, 403):
        message = unauthorized_message(operation, status, "the engine", "the user's rights")
        return EngineUnauthorized(message + suffix, **details)
    if status in UNAVAILABLE_STATUSES:
        return EngineUnavailable(
            unavailable_message(operation, status, "the engine") + suffix, **details
        )
    if status >= 500 and (
        engine_type is None or code in _TRANSIENT_CODES or engine_type in _TRANSIENT_TYPES
    ):
        # A 500 without an engine exception comes from something in front of the engine, or
        # from the engine's own transient trouble: worth a retry, unlike its refusals.
        why = _TRANSIENT_CODES.get(code or 0) or _TRANSIENT_TYPES.get(
            engine_type or "", "no engine exception in the answer"
        )
        return EngineUnavailable(
            f"{operation}: the engine answered {status} ({why}){suffix}", **details
        )
    if _NO_ENGINE.match(said):
        return EngineRefused(
            f"{operation}: the engine has no process engine of that name ({status}){suffix}",
            **details,
        )
    kind = EngineNotFound if status == 404 else EngineRefused
    problems = _problems(body) if body is not None else ()
    # A ParseException's message lists every problem already; they are in `problems` too.
    message = f"{operation}: the engine refused ({status}){suffix}"
    return kind(message, problems=problems, **details)
