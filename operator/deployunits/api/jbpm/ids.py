"""jBPM deployment ids: the seed's pattern, their parts, and the unit name derived from an id."""

import re
from dataclasses import dataclass
from typing import ClassVar

from starlette.convertors import Convertor, register_url_convertor

from deployunits import constants
from deployunits.content.digest import sha256_hex

#: The seed's pattern, with `\w` read as the seed defines it: [A-Za-z0-9_] only.
ID_REGEX = re.compile(rf"^(?:{constants.JBPM_ID_PATTERN})$", re.ASCII)
_PART = r"[A-Za-z0-9_.\-]"
#: The same language for the router (no flags there): g:a:v[:kbase[:ksession]].
ROUTE_PATTERN = rf"{_PART}+(?::{_PART}+){{2}}(?::{_PART}*){{0,2}}"
#: Name of the path convertor the routes use: `{deploymentId:jbpmid}`.
CONVERTOR = "jbpmid"
_SLUG = re.compile(r"[^a-z0-9]+")
_SLUG_LENGTH = 47  # with prefix and hash: at most 63 characters, a DNS label
UNIT_NAME_PREFIX = "jbpm-"


@dataclass(frozen=True)
class JbpmId:
    """The parts of an id, split the way Java's String.split(":") does (trailing empties go)."""

    group_id: str
    artifact_id: str
    version: str
    kbase: str | None = None
    ksession: str | None = None


def is_jbpm_id(deployment_id: str) -> bool:
    """Whether the id matches the seed's pattern."""
    return ID_REGEX.match(deployment_id) is not None


def parse(deployment_id: str) -> JbpmId:
    """The parts of a valid id; ValueError for anything the pattern refuses."""
    if not is_jbpm_id(deployment_id):
        raise ValueError(f"not a jBPM deployment id: {deployment_id!r}")
    parts = deployment_id.split(":")
    while parts and parts[-1] == "":
        parts.pop()
    return JbpmId(
        group_id=parts[0],
        artifact_id=parts[1],
        version=parts[2],
        kbase=parts[3] if len(parts) > 3 else None,
        ksession=parts[4] if len(parts) > 4 else None,
    )


def unit_name(deployment_id: str) -> str:
    """The DeploymentUnit name a REST deploy creates: readable slug, then a hash of the exact id.

    Deterministic, so two replicas deploying the same unknown id race on one create that only
    one of them can win; the hash keeps ids that differ only in case or punctuation apart.
    """
    digest = sha256_hex(deployment_id.encode())[:10]
    slug = _SLUG.sub("-", deployment_id.lower()).strip("-")[:_SLUG_LENGTH].strip("-")
    return f"{UNIT_NAME_PREFIX}{slug}-{digest}" if slug else f"{UNIT_NAME_PREFIX}{digest}"


class JbpmIdConvertor(Convertor[str]):
    """Matches only ids of the seed's pattern, so other ids miss the route (a bare 404)."""

    regex: ClassVar[str] = ROUTE_PATTERN

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor(CONVERTOR, JbpmIdConvertor())
