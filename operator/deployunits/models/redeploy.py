"""The Redeploy custom resource: a request for a new deployment from an existing one's content."""

from datetime import datetime
from typing import Annotated

from pydantic import ConfigDict, Field

from deployunits import constants
from deployunits.models.base import CamelModel, CustomResource, K8sName, ShortText
from deployunits.models.conditions import Conditions


class RedeploySpec(CamelModel):
    """Which deployment to redeploy, which of its resources, and with which source."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "self == oldSelf",
                    "message": "a Redeploy is immutable; create a new one for another redeploy",
                }
            ]
        }
    )

    deployment_id: str = Field(min_length=1, max_length=253)
    resource_ids: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=10000
    )
    resource_names: list[Annotated[str, Field(min_length=1, max_length=255)]] = Field(
        default_factory=list, max_length=10000
    )
    source: ShortText | None = None
    ttl_seconds_after_finished: int | None = Field(default=None, ge=0, le=31536000)


class RedeployStatus(CamelModel):
    """The outcome of the request; written only by the operator."""

    observed_generation: int | None = Field(default=None, ge=0)
    new_deployment_id: str | None = Field(default=None, max_length=253)
    new_deployment_name: ShortText | None = None
    new_unit_name: K8sName | None = None
    completion_time: datetime | None = None
    conditions: Conditions = Field(default_factory=list)


class Redeploy(CustomResource):
    """A Redeploy object as read from the API server, or to create."""

    kind: str = constants.REDEPLOY_KIND
    spec: RedeploySpec
    status: RedeployStatus | None = None
