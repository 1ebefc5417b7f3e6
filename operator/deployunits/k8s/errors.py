"""Failures of calls to the API server, public to every caller of the k8s package."""

from typing import Any

JSON = dict[str, Any]


class ApiError(Exception):
    """A non-2xx answer of the API server, with its Status body."""

    def __init__(self, status: int, body: JSON, method: str, path: str) -> None:
        self.status = status
        self.body = body
        self.reason = str(body.get("reason", ""))
        message = str(body.get("message") or body or f"HTTP {status}")
        super().__init__(f"{method} {path}: {status} {message}")
        self.message = message

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def conflict(self) -> bool:
        return self.status == 409

    @property
    def retryable(self) -> bool:
        """The API server asks to be called again later rather than refusing the call: it is
        throttling (429), starting or re-initializing a kind's storage (429, 503), or cannot
        reach etcd in time (504)."""
        return self.status in (429, 502, 503, 504)

    @property
    def too_large(self) -> bool:
        """The object is over a size limit: the API server's body limit (413), or etcd's
        request limit, which the API server reports as a 500 naming the gRPC or etcd error."""
        if self.status == 413:
            return True
        return self.status == 500 and any(
            text in self.message
            for text in ("ResourceExhausted", "request is too large", "larger than max")
        )


class ApiUnavailable(Exception):
    """The API server could not be reached (connection refused, timeout)."""
