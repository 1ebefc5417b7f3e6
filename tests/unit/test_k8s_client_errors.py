"""How API server errors are classified: which ones say an object is over a size limit."""

import pytest

from deployunits.k8s.errors import ApiError


@pytest.mark.parametrize(
    ("status", "message", "too_large"),
    [
        (413, "Request entity too large: limit is 3145728", True),
        (
            500,
            "rpc error: code = ResourceExhausted desc = trying to send message larger than max "
            "(3549833 vs. 2097152)",
            True,
        ),
        (500, "etcdserver: request is too large", True),
        (500, "Internal error occurred: connection reset", False),
        (422, "Too long: must have at most 1048576 bytes", False),
        (409, "the object has been modified", False),
    ],
)
def test_size_limit_errors_are_told_apart(status: int, message: str, too_large: bool) -> None:
    error = ApiError(status, {"message": message}, "PATCH", "/apis/x")
    assert error.too_large is too_large
