"""metav1.Condition and pure helpers that set conditions the way cluster-api does."""

from collections.abc import Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field

from deployunits.models.base import CamelModel


class ConditionType(StrEnum):
    """Condition types written by the operator (kstatus reads the last three)."""

    READY = "Ready"
    DEPLOYED = "Deployed"
    RECONCILING = "Reconciling"
    STALLED = "Stalled"
    SUCCEEDED = "Succeeded"
    SOURCE_DRIFTED = "SourceDrifted"
    #: Bound units: the desired state is reached in the process engine.
    ENGINE_SYNCED = "EngineSynced"


ConditionStatus = Literal["True", "False", "Unknown"]
ConditionReason = Annotated[
    str,
    Field(min_length=1, max_length=1024, pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"),
]


class Condition(CamelModel):
    """One observation of the object's state, in the shape of metav1.Condition."""

    type: str = Field(
        max_length=316,
        pattern=(
            r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
            r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"
        ),
    )
    """The condition's type, for example Ready."""
    status: ConditionStatus
    """True, False or Unknown."""
    observed_generation: int | None = Field(default=None, ge=0)
    """The generation the condition was set for."""
    last_transition_time: datetime
    """When the status last changed."""
    reason: ConditionReason
    """A CamelCase reason for the last transition."""
    message: str = Field(max_length=32768)
    """What happened, for people."""


#: The conditions of a status, keyed by type (merged per type by server-side apply).
Conditions = Annotated[
    list[Condition],
    Field(
        max_length=16,
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["type"],
        },
    ),
]


def now() -> datetime:
    """The current time, truncated to seconds as metav1.Time serializes it."""
    return datetime.now(UTC).replace(microsecond=0)


def now_ms() -> datetime:
    """The current time to the millisecond, as Camunda stamps deployments: duplicate filtering
    orders deployments by it, and a script's deployments a few milliseconds apart must not tie."""
    moment = datetime.now(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def find(conditions: Sequence[Condition], type_: str) -> Condition | None:
    """The condition of the given type, if present."""
    return next((c for c in conditions if c.type == type_), None)


def is_true(conditions: Sequence[Condition], type_: str) -> bool:
    """Whether the condition of the given type is present and True."""
    found = find(conditions, type_)
    return found is not None and found.status == "True"


def set_condition(
    conditions: Sequence[Condition],
    type_: str,
    status: ConditionStatus,
    reason: str,
    message: str,
    *,
    generation: int | None,
    at: datetime,
) -> list[Condition]:
    """A copy of conditions with one set; the transition time moves only when status flips."""
    previous = find(conditions, type_)
    transition = (
        previous.last_transition_time if previous is not None and previous.status == status else at
    )
    updated = Condition(
        type=type_,
        status=status,
        observed_generation=generation,
        last_transition_time=transition,
        reason=reason,
        message=message[:32768],
    )
    replaced = [updated if c.type == type_ else c for c in conditions]
    return replaced if previous is not None else [*replaced, updated]
