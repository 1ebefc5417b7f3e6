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
        return await self._review(TOKEN_REVIEWS, "authentication.k8s.io/v1", "TokenReview", spec)

    async def access(self, spec: dict[str, Any]) -> JSON:
        """The status of a SubjectAccessReview of `spec` (user, groups, resourceAttributes)."""
        return await self._review(
            ACCESS_REVIEWS, "authorization.k8s.io/v1", "SubjectAccessReview", spec
        )

    async def _review(self, path: str, api_version: str, kind: str, spec: dict[str, Any]) -> JSON:
        # Reviews are never stored: the answer's status is all there is.
        review = await self._kube.create(
            path, {"apiVersion": api_version, "kind": kind, "spec": spec}
        )
        status: JSON = review.get("status") or {}
        return status
