"""TokenReviews and SubjectAccessReviews: the API server authenticates and authorizes callers."""

from typing import Any

from pydantic import Field

from deployunits.k8s._transport import KubeClient
from deployunits.models.base import CamelModel

TOKEN_REVIEWS = "/apis/authentication.k8s.io/v1/tokenreviews"
ACCESS_REVIEWS = "/apis/authorization.k8s.io/v1/subjectaccessreviews"


class UserInfo(CamelModel):
    """Who a token belongs to (authentication/v1 UserInfo)."""

    username: str = ""
    uid: str = ""
    groups: list[str] = Field(default_factory=list)
    extra: dict[str, list[str]] = Field(default_factory=dict)


class TokenReviewStatus(CamelModel):
    """The API server's answer to a TokenReview."""

    authenticated: bool = False
    user: UserInfo = Field(default_factory=UserInfo)
    audiences: list[str] = Field(default_factory=list)
    error: str = ""


class AccessReviewStatus(CamelModel):
    """The API server's answer to a SubjectAccessReview."""

    allowed: bool = False
    denied: bool = False
    reason: str = ""
    evaluation_error: str = ""


class Reviews:
    """Asks the API server who a token belongs to, and whether a user may do something."""

    def __init__(self, transport: KubeClient) -> None:
        self._kube = transport

    async def token(self, spec: dict[str, Any]) -> TokenReviewStatus:
        """The status of a TokenReview of `spec` (token, audiences)."""
        status = await self._review(TOKEN_REVIEWS, "authentication.k8s.io/v1", "TokenReview", spec)
        return TokenReviewStatus.model_validate(status)

    async def access(self, spec: dict[str, Any]) -> AccessReviewStatus:
        """The status of a SubjectAccessReview of `spec` (user, groups, resourceAttributes)."""
        status = await self._review(
            ACCESS_REVIEWS, "authorization.k8s.io/v1", "SubjectAccessReview", spec
        )
        return AccessReviewStatus.model_validate(status)

    async def _review(
        self, path: str, api_version: str, kind: str, spec: dict[str, Any]
    ) -> dict[str, Any]:
        # Reviews are never stored: the answer's status is all there is.
        review = await self._kube.create(
            path, {"apiVersion": api_version, "kind": kind, "spec": spec}
        )
        status: dict[str, Any] = review.get("status") or {}
        return status
