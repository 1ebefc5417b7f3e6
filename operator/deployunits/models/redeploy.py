"""The Redeploy custom resource: a request for a new deployment from an existing one's content."""

from datetime import datetime
from typing import Annotated

from pydantic import Field

from deployunits import constants
from deployunits.models.base import (
    CamelModel,
    CustomResource,
    K8sName,
    ObservedStatus,
    ShortText,
    cel_rule,
    cel_rules,
)
from deployunits.models.conditions import Conditions


class RedeploySpec(CamelModel):
    """Which deployment to redeploy, which of its resources, and with which source."""

    model_config = cel_rules(
        cel_rule(
            "self == oldSelf", "a Redeploy is immutable; create a new one for another redeploy"
        )
    )

    deployment_id: str = Field(min_length=1, max_length=253)
    """The deployment to redeploy (its spec.deploymentId)."""
    resource_ids: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=10000
    )
    """Resources to take, by id; with resourceNames empty too, every resource."""
    resource_names: list[Annotated[str, Field(min_length=1, max_length=255)]] = Field(
        default_factory=list, max_length=10000
    )
    """Resources to take, by name; with resourceIds empty too, every resource."""
    source: ShortText | None = None
    """The new deployment's source (Camunda's deployment-source)."""
    ttl_seconds_after_finished: int | None = Field(default=None, ge=0, le=31536000)
    """Delete the request this long after it finished; kept when absent."""


class RedeployStatus(ObservedStatus):
    """The outcome of the request; written only by the operator."""

    new_deployment_id: str | None = Field(default=None, max_length=253)
    """The new deployment's id."""
    new_deployment_name: ShortText | None = None
    """The new deployment's name (the original's)."""
    new_unit_name: K8sName | None = None
    """The DeploymentUnit created for the new deployment."""
    completion_time: datetime | None = None
    """When the request finished."""
    conditions: Conditions = Field(default_factory=list)
    """Succeeded and Stalled, as metav1.Conditions."""


class Redeploy(CustomResource):
    """A Redeploy object as read from the API server, or to create."""

    kind: str = constants.REDEPLOY_KIND
    spec: RedeploySpec
    status: RedeployStatus | None = None
