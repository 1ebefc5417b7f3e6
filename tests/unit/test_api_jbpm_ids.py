"""jBPM deployment ids: every example of the reference (§2.1), the route's regex, the split rule,
and the unit names derived from ids."""

import re

import pytest
from starlette.routing import compile_path

from deployunits import constants
from deployunits.api.jbpm import ids

VALID = ["a:b:c", "g:a:v:kb", "g:a:v:kb:", "g:a:v::ks", "g:a:v::"]
INVALID = [
    "g:a:v:kb:ks:extra",  # six parts
    "g:a:v:kb:ks:",  # six parts, the last empty
    "g:a b:v",  # a space
    "g:a:v$",  # a dollar
    "::v",
    "g:a",  # two parts
    "g::v",  # empty artifact id
    "g:a:v:k\u00e9",  # \w is ASCII only in the seed
]


@pytest.mark.parametrize("deployment_id", VALID)
def test_valid_ids(deployment_id: str) -> None:
    assert ids.is_jbpm_id(deployment_id)
    assert _route_matches(deployment_id)


@pytest.mark.parametrize("deployment_id", INVALID)
def test_invalid_ids(deployment_id: str) -> None:
    assert not ids.is_jbpm_id(deployment_id)
    assert not _route_matches(deployment_id)
    with pytest.raises(ValueError, match="not a jBPM deployment id"):
        ids.parse(deployment_id)


def _route_matches(deployment_id: str) -> bool:
    regex, _, _ = compile_path(f"/deployment/{{deploymentId:{ids.CONVERTOR}}}/deploy")
    match = regex.match(f"/deployment/{deployment_id}/deploy")
    return match is not None and match.group("deploymentId") == deployment_id


def test_the_route_regex_is_the_seed_pattern() -> None:
    seed = re.compile(rf"^(?:{constants.JBPM_ID_PATTERN})$", re.ASCII)
    route = re.compile(rf"^(?:{ids.ROUTE_PATTERN})$")
    samples = [*VALID, *INVALID, "a.b-c_d:e:f", "a:b:c:d:e", "a:b:c:d::", "x:y:z:", "_:-:."]
    for sample in samples:
        assert bool(seed.match(sample)) is bool(route.match(sample)), sample


@pytest.mark.parametrize(
    ("deployment_id", "parts"),
    [
        ("a:b:c", ("a", "b", "c", None, None)),
        ("g:a:v:kb", ("g", "a", "v", "kb", None)),
        ("g:a:v:kb:", ("g", "a", "v", "kb", None)),
        ("g:a:v::ks", ("g", "a", "v", "", "ks")),
        ("g:a:v::", ("g", "a", "v", None, None)),
        (
            "org.kie.example:project1:1.0.0-SNAPSHOT",
            ("org.kie.example", "project1", "1.0.0-SNAPSHOT", None, None),
        ),
    ],
)
def test_parts_split_like_java(deployment_id: str, parts: tuple[object, ...]) -> None:
    parsed = ids.parse(deployment_id)
    assert (
        parsed.group_id,
        parsed.artifact_id,
        parsed.version,
        parsed.kbase,
        parsed.ksession,
    ) == parts


def test_unit_names_are_dns_safe_deterministic_and_distinct() -> None:
    dns = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    examples = [
        *VALID,
        "Org.Acme:Invoice:1.0",
        "org.acme:invoice:1.0",
        "org-acme:invoice:1-0",
        "___:...:---",
        "a" * 200 + ":b:c",
    ]
    names = [ids.unit_name(e) for e in examples]
    for example, name in zip(examples, names, strict=True):
        assert dns.match(name), name
        assert len(name) <= 63
        assert name == ids.unit_name(example)
        assert name.startswith(ids.UNIT_NAME_PREFIX)
    assert len(set(names)) == len(names)
    assert ids.unit_name("org.acme:invoice:1.0").startswith("jbpm-org-acme-invoice-1-0-")
