"""What the API server itself enforces on DeploymentUnits (CRD schema and CEL), operator or not.

Matrix: valid jBPM and Camunda ids accepted; bad ids, two content sources, no source refused;
identity fields and a set strategy immutable; a least-privilege user refused.
"""

import json
from typing import Any

import pytest

from tests.support.cluster import Cluster
from tests.support.units import deployment_unit

INLINE: dict[str, Any] = {"inline": {"hello.bpmn": "<definitions/>"}}
CONFIG_MAP: dict[str, Any] = {"config_maps": ["processes"]}


def unit(name: str, deployment_id: str, resources: dict[str, Any] = INLINE) -> str:
    """A unit `name` (spec.name `invoice`) with these resources, as JSON for kubectl."""
    return json.dumps(
        deployment_unit(name, deployment_id=deployment_id, name="invoice", **resources)
    )


@pytest.mark.parametrize(
    "deployment_id",
    ["org.kie:project1:1.0.0", "g:a:v:kb", "g:a:v:kb:", "g:a:v::ks", "g:a:v::", "aBc-12_3.x"],
)
def test_valid_ids_are_accepted(cluster: Cluster, namespace: str, deployment_id: str) -> None:
    cluster.apply(unit("ok", deployment_id), namespace)


@pytest.mark.parametrize(
    "deployment_id",
    ["g:a", "g:a:v:kb:ks:extra", "g a:b:c", "g:a$:v", "::v", ":a:b", "-no-colon$"],
)
def test_bad_ids_are_refused_with_a_readable_message(
    cluster: Cluster, namespace: str, deployment_id: str
) -> None:
    result = cluster.kubectl(
        "apply", "-n", namespace, "-f", "-", input=unit("bad", deployment_id), check=False
    )
    assert result.returncode != 0
    assert "deploymentId must be a jBPM id groupId:artifactId:version" in result.stderr


def test_two_content_sources_are_refused(cluster: Cluster, namespace: str) -> None:
    result = cluster.kubectl(
        "apply",
        "-n",
        namespace,
        "-f",
        "-",
        input=unit("two", "g:a:1", {**INLINE, **CONFIG_MAP}),
        check=False,
    )
    assert result.returncode != 0
    assert "exactly one content source must be set" in result.stderr


def test_no_content_source_is_refused(cluster: Cluster, namespace: str) -> None:
    result = cluster.kubectl(
        "apply", "-n", namespace, "-f", "-", input=unit("none", "g:a:1", {}), check=False
    )
    assert result.returncode != 0
    assert "exactly one content source must be set" in result.stderr


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("deploymentId", '"g:a:2"', "deploymentId is immutable"),
        ("name", '"renamed"', "name is immutable"),
        ("source", '"git"', "source is immutable"),
        ("tenantId", '"tenant-b"', "tenantId is immutable"),
    ],
)
def test_identity_fields_are_immutable(
    cluster: Cluster, namespace: str, path: str, value: str, message: str
) -> None:
    cluster.apply(unit("fixed", "g:a:1"), namespace)
    result = cluster.kubectl(
        "patch",
        "du",
        "fixed",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        f'{{"spec": {{"{path}": {value}}}}}',
        check=False,
    )
    assert result.returncode != 0
    assert message in result.stderr


def test_strategy_cannot_change_once_set(cluster: Cluster, namespace: str) -> None:
    cluster.apply(unit("strat", "g:a:1"), namespace)
    set_once = '{"spec": {"strategy": "PER_REQUEST"}}'
    cluster.kubectl("patch", "du", "strat", "-n", namespace, "--type=merge", "-p", set_once)
    change = '{"spec": {"strategy": "SINGLETON"}}'
    result = cluster.kubectl(
        "patch", "du", "strat", "-n", namespace, "--type=merge", "-p", change, check=False
    )
    assert result.returncode != 0
    assert "strategy cannot change once set" in result.stderr


def test_least_privilege_user_cannot_read_units(cluster: Cluster, namespace: str) -> None:
    cluster.apply(unit("secret", "g:a:1"), namespace)
    result = cluster.restricted_kubectl("get", "deploymentunits", "-n", namespace)
    assert result.returncode != 0
    assert "forbidden" in result.stderr.lower()
    assert "deploymentunits.bpm.deployunits.io" in result.stderr
