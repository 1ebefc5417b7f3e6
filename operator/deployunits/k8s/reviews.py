"""TokenReviews and SubjectAccessReviews: the API server authenticates and authorizes callers."""

from typing import Any

from deployunits.k8s._transport import KubeClient
from deployunits.k8s.errors import JSON

TOKEN_REVIEWS = "/apis/authentication.k8s.io/v1/tokenreviews"
ACCESS_REVIEWS = "/apis/authorization.k8s.io/v1/subjectaccessreviews"


class Reviews:
    """Asks the API server who a token belongs to, and whether a user may do something."""

    def __init__(self, transport: KubeClient) -> None:
        self._kube = transport

    async def token(self, spec: dict[str, Any]) -> JSON:
        """The status of a TokenReview of `spec` (token, audiences)."""
        review = await self._kube.create(
            TOKEN_REVIEWS,
            {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": spec},
        )
        status: JSON = review.get("status") or {}
        return status

    async def access(self, spec: dict[str, Any]) -> JSON:
        """The status of a SubjectAccessReview of `spec` (user, groups, resourceAttributes)."""
        review = await self._kube.create(
            ACCESS_REVIEWS,
            {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": spec},
        )
        status: JSON = review.get("status") or {}
        return status
