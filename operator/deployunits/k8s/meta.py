"""An object's metadata as the stores return it: what a write answers, what callers read."""

from typing import Any

from pydantic import Field

from deployunits.models.base import CamelModel


class ObjectMeta(CamelModel):
    """The part of metav1.ObjectMeta the project reads (the rest of it is ignored).

    Writes answer with it (the API server sends the written object's metadata alone); a read
    object's `metadata` mapping validates into it as well.
    """

    name: str = ""
    namespace: str | None = None
    uid: str = ""
    resource_version: str = ""
    generation: int | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    finalizers: list[str] = Field(default_factory=list)
    deletion_timestamp: str | None = None
    owner_references: list[dict[str, Any]] = Field(default_factory=list)

    @property
    def version(self) -> int:
        """The resourceVersion as a number (etcd revisions are numbers; 0 if unknown)."""
        return int(self.resource_version) if self.resource_version.isdigit() else 0

    def at(self, written: "ObjectMeta") -> "ObjectMeta":
        """This object under the precondition of the version just written (the one it was
        read at always conflicts after a write)."""
        return self.model_copy(update={"resource_version": written.resource_version})


def metadata_of(answer: dict[str, Any]) -> ObjectMeta:
    """The metadata of an object as the API server answered with it (whole or metadata only)."""
    return ObjectMeta.model_validate(answer.get("metadata") or {})
