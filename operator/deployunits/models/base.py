"""Shared base of the custom-resource models: camelCase wire names, constrained strings."""

from typing import Annotated, Any, Self, cast

from pydantic import BaseModel, ConfigDict, Field, JsonValue
from pydantic.alias_generators import to_camel

from deployunits import constants


class CamelModel(BaseModel):
    """A model whose fields are written in camelCase, as Kubernetes APIs are."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
        frozen=True,
        # A field's docstring is its description in the CRDs (`kubectl explain`).
        use_attribute_docstrings=True,
    )

    def to_wire(self) -> dict[str, object]:
        """The JSON-ready form with camelCase keys, leaving out unset optional fields."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")

    @classmethod
    def unchecked(cls, **fields: object) -> Self:
        """The model of values a caller gave, not validated here: the API server validates what
        is written, and its refusal is what the caller is shown. None counts as not given."""
        given: dict[str, Any] = {k: v for k, v in fields.items() if v is not None}
        # The mypy plugin types model_construct by the class it is written in, not by cls.
        return cast(Self, cls.model_construct(None, **given))


def cel_rule(rule: str, message: str, field_path: str | None = None) -> dict[str, JsonValue]:
    """One CEL rule of a schema (`x-kubernetes-validations`) and the message the API server
    answers when an object breaks it."""
    found: dict[str, JsonValue] = {"rule": rule, "message": message}
    if field_path is not None:
        found["fieldPath"] = field_path
    return found


def exactly_one(first: str, second: str) -> dict[str, JsonValue]:
    """The CEL rule that exactly one of two optional fields is set."""
    return cel_rule(
        f"has(self.{first}) != has(self.{second})", f"set exactly one of {first} and {second}"
    )


def cel_rules(*rules: JsonValue) -> ConfigDict:
    """The config of a model whose schema carries these CEL rules (merged with its base's)."""
    return ConfigDict(json_schema_extra={"x-kubernetes-validations": list(rules)})


class CustomResource(CamelModel):
    """An object of one of the project's kinds; subclasses narrow kind, spec and status."""

    api_version: str = constants.API_VERSION
    kind: str
    metadata: dict[str, object] = Field(default_factory=dict)
    spec: CamelModel

    def manifest(self) -> dict[str, Any]:
        """The object to create: its spec serialised by the model, with only the fields given.

        Fields left unset stay out, so the API server applies the CRD's defaults; a spec made
        with `model_construct` from a caller's input is validated by the API server alone,
        whose messages (its schema and CEL rules) are what the caller is shown.
        """
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "metadata": dict(self.metadata),
            "spec": self.spec.model_dump(by_alias=True, exclude_unset=True, mode="json"),
        }


class ObservedStatus(CamelModel):
    """The status of one of the project's kinds: what every one of them records first."""

    observed_generation: int | None = Field(default=None, ge=0)
    """The generation of the spec this status describes."""


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
