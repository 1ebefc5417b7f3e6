"""The API server accepts manifests/ and the samples, and the samples work with the operator.

Matrix:
- `kubectl apply --dry-run=server -k manifests/`: every object of the base is accepted;
- the Pod the Deployment makes passes the restricted Pod Security level its namespace enforces
  (and a Pod that keeps its capabilities is refused there, so the check has teeth);
- `kubectl apply --dry-run=server -k manifests/samples/`: every sample passes the CRDs'
  schemas and CEL rules, a broken unit does not;
- applied for real with the operator running, the ConfigMap unit (whose ConfigMap name
  kustomize rewrote) and the inline unit become Ready;
- `kubectl explain` shows the models' descriptions of the installed CRDs' fields.
"""

import json
import subprocess
from typing import Any

import pytest
import yaml

from devcluster.processes import OperatorProcess
from tests.support.cluster import Cluster
from tests.support.manifests import MANIFESTS, SAMPLES, render

INSTALL_NAMESPACE = "deployunits-system"


def dump(objects: list[dict[str, Any]]) -> str:
    return yaml.safe_dump_all(objects, sort_keys=False)


@pytest.fixture(scope="module")
def install_namespace(cluster: Cluster) -> str:
    """deployunits-system as the base defines it (labels included), created for real.

    A server-side dry run creates nothing, so the objects inside a namespace that the same
    apply would create could not be checked without it.
    """
    [namespace] = [o for o in render(MANIFESTS) if o["kind"] == "Namespace"]
    cluster.kubectl("apply", "-f", "-", input=dump([namespace]))
    return str(namespace["metadata"]["name"])


def dry_run(cluster: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    result = cluster.kubectl("apply", "--dry-run=server", *args, check=False)
    assert result.returncode == 0, result.stderr
    return result


def server_dry_run_create(
    cluster: Cluster, namespace: str, obj: dict[str, Any]
) -> subprocess.CompletedProcess[str]:
    """kubectl create --dry-run=server of one object, the outcome left to the caller."""
    return cluster.kubectl(
        "create", "--dry-run=server", "-n", namespace, "-f", "-", input=json.dumps(obj), check=False
    )


class TestBase:
    """The base install as the API server sees it."""

    def test_api_server_accepts_every_object(
        self, cluster: Cluster, install_namespace: str
    ) -> None:
        result = dry_run(cluster, "-k", str(MANIFESTS))
        accepted = [line for line in result.stdout.splitlines() if "(server dry run)" in line]
        assert len(accepted) == len(render(MANIFESTS)), result.stdout

    def test_pod_meets_the_restricted_pod_security_level(
        self, cluster: Cluster, install_namespace: str
    ) -> None:
        [deployment] = [o for o in render(MANIFESTS) if o["kind"] == "Deployment"]
        template = deployment["spec"]["template"]
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "pod-security-check", "labels": template["metadata"]["labels"]},
            "spec": template["spec"],
        }
        result = server_dry_run_create(cluster, install_namespace, pod)
        assert result.returncode == 0, result.stderr
        assert "PodSecurity" not in result.stderr, result.stderr
        # The namespace enforces the level: a container that keeps its capabilities is refused.
        del pod["spec"]["containers"][0]["securityContext"]["capabilities"]
        refused = server_dry_run_create(cluster, install_namespace, pod)
        assert refused.returncode != 0
        assert "violates PodSecurity" in refused.stderr, refused.stderr


class TestSamples:
    """The samples as the API server and the operator see them."""

    def test_api_server_accepts_every_sample(self, cluster: Cluster, namespace: str) -> None:
        result = dry_run(cluster, "-k", str(SAMPLES), "-n", namespace)
        accepted = [line for line in result.stdout.splitlines() if "(server dry run)" in line]
        assert len(accepted) == len(render(SAMPLES)), result.stdout

    def test_api_server_refuses_a_broken_unit(self, cluster: Cluster, namespace: str) -> None:
        # The control for the test above: the dry run does validate against the CRD.
        [unit] = yaml.safe_load_all((SAMPLES / "inline-unit.yaml").read_text())
        unit["spec"]["deploymentId"] = "not:a:valid:jbpm:id:at:all"
        result = cluster.kubectl(
            "apply",
            "--dry-run=server",
            "-n",
            namespace,
            "-f",
            "-",
            input=dump([unit]),
            check=False,
        )
        assert result.returncode != 0
        assert "deploymentId" in result.stderr

    @pytest.mark.usefixtures("operator")
    def test_config_map_and_inline_units_become_ready(
        self, cluster: Cluster, operator: OperatorProcess, namespace: str
    ) -> None:
        # The Maven unit would reach out to a real repository and the Redeploy needs the
        # invoice unit first; both are checked by the dry run above.
        objects = [
            o
            for o in render(SAMPLES)
            if o["kind"] == "ConfigMap"
            or (o["kind"] == "DeploymentUnit" and "maven" not in o["spec"]["resources"])
        ]
        cluster.apply(dump(objects), namespace)
        for name in ("invoice", "hello-inline"):
            cluster.wait_condition(name, namespace, "Ready", operator)
        resources = cluster.get("du", "invoice", namespace)["status"]["resources"]
        assert sorted(r["name"] for r in resources) == ["approver.dmn", "invoice.bpmn"]


class TestExplain:
    """kubectl explain, as the API server publishes the CRDs' descriptions."""

    @pytest.mark.parametrize(
        ("field", "words"),
        [
            ("du.spec.resources.maven.groupId", "The artifact's groupId."),
            ("du.status.job.identifier", "jBPM's job identifier"),
            ("rdp.spec.resourceNames", "Resources to take, by name"),
            ("pe.status.unmanagedDeployments", "no unit owns"),
        ],
    )
    def test_fields_have_descriptions(self, cluster: Cluster, field: str, words: str) -> None:
        result = cluster.kubectl("explain", field)
        assert words in " ".join(result.stdout.split()), result.stdout
