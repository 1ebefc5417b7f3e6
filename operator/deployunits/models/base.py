"""Shared base of the custom-resource models: camelCase wire names, constrained strings."""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class CamelModel(BaseModel):
    """A model whose fields are written in camelCase, as Kubernetes APIs are."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
        frozen=True,
    )

    def to_wire(self) -> dict[str, object]:
        """The JSON-ready form with camelCase keys, leaving out unset optional fields."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


#: A Kubernetes object name (DNS subdomain).
K8sName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=253,
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
    ),
]
#: A ConfigMap key.
ConfigMapKey = Annotated[str, Field(min_length=1, max_length=253, pattern=r"^[-._a-zA-Z0-9]+$")]
#: Free text shown to people: deployment names, sources, messages.
ShortText = Annotated[str, Field(max_length=255)]
Sha256Hex = Annotated[str, Field(min_length=64, max_length=64, pattern=r"^[0-9a-f]{64}$")]
