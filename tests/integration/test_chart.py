"""The Helm chart (charts/deployunits) renders the kustomize base's objects and installs for real.

The base (manifests/) and the chart are kept in step by this test, not by a shared file: kustomize
and Helm each only read files under their own root. The CRDs are the one exception: both copies
are rendered from the pydantic models (tests/unit/test_manifests.py fails on drift).

Matrix:
- rendering, object by object, against `kubectl kustomize`: the defaults equal the base (the
  Namespace only with createNamespace, since Helm owns the release namespace); ha.enabled
  equals the base with the component `ha`; admission.enabled the base with `admission`, and
  its apiVersion v1beta1 the base with `admission-beta`; values that ask for a difference
  (image, settings, resources, replicas) change exactly the fields they name. The chart's
  own labels (helm.sh/chart, app.kubernetes.io/managed-by and /instance) and the hook that
  creates the ClusterKopfPeering after its CRD (kustomize needs a second apply for it) are the
  only other differences;
- `helm lint --strict` passes; values.schema.json refuses a wrong value with the field's path;
- on an empty control plane of the module's own: `helm install --dry-run=server` creates
  nothing, `helm install` creates every object, the CRDs from the chart's crds/ included, and
  `helm uninstall` removes them again (the CRDs stay, as Helm keeps the CRDs of crds/, so no
  unit is lost); with ha and admission enabled it installs in one go, peering and policy included.
"""

import copy
import json
import subprocess
from pathlib import Path
from typing import Any, get_args

import pytest

from deployunits.settings import AuthMode, ShimSettings
from devcluster import binaries
from tests.support.cluster import Cluster
from tests.support.manifests import (
    CHART,
    INSTALL_NAMESPACE,
    MANIFESTS,
    helm_template,
    render,
    render_with,
)

CHART_LABELS = {"helm.sh/chart", "app.kubernetes.io/managed-by", "app.kubernetes.io/instance"}
Key = tuple[str, str]


def by_key(objects: list[dict[str, Any]]) -> dict[Key, dict[str, Any]]:
    """Objects by (kind, name), without the chart's own labels."""
    found: dict[Key, dict[str, Any]] = {}
    for original in objects:
        item = copy.deepcopy(original)
        labels = item["metadata"].get("labels", {})
        for label in CHART_LABELS:
            labels.pop(label, None)
        if "labels" in item["metadata"] and not labels:
            del item["metadata"]["labels"]
        annotations = item["metadata"].get("annotations", {})
        for annotation in [a for a in annotations if a.startswith("helm.sh/hook")]:
            del annotations[annotation]
        if "annotations" in item["metadata"] and not annotations:
            del item["metadata"]["annotations"]
        key = (item["kind"], item["metadata"]["name"])
        assert key not in found, f"{key} rendered twice"
        found[key] = item
    return found


def assert_same(chart: list[dict[str, Any]], base: list[dict[str, Any]]) -> None:
    rendered, expected = by_key(chart), by_key(base)
    assert sorted(rendered) == sorted(expected)
    for key, item in expected.items():
        assert rendered[key] == item, f"{key} differs:\n{json.dumps(rendered[key], indent=1)}"


def containers(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    [deployment] = [o for o in objects if o["kind"] == "Deployment"]
    return {c["name"]: c for c in deployment["spec"]["template"]["spec"]["containers"]}


def helm(*args: str, kubeconfig: Path | None = None) -> subprocess.CompletedProcess[str]:
    command = [str(binaries.helm()), *args]
    if kubeconfig is not None:
        command += ["--kubeconfig", str(kubeconfig)]
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=300)


class TestRendering:
    """`helm template` against `kubectl kustomize`, object by object."""

    def test_defaults_render_the_base(self) -> None:
        assert_same(helm_template("createNamespace=true"), render(MANIFESTS))

    def test_helm_owns_the_namespace_by_default(self) -> None:
        base = [o for o in render(MANIFESTS) if o["kind"] != "Namespace"]
        assert_same(helm_template(), base)

    def test_ha_renders_the_ha_component(self, tmp_path: Path) -> None:
        assert_same(
            helm_template("createNamespace=true", "ha.enabled=true"),
            render_with(["ha"], tmp_path),
        )

    def test_engine_credentials_per_namespace_render_that_component(self, tmp_path: Path) -> None:
        assert_same(
            helm_template("createNamespace=true", "engineCredentials.clusterWide=false"),
            render_with(["engine-credentials-per-namespace"], tmp_path),
        )

    @pytest.mark.parametrize(
        ("version", "component"),
        [("v1", "admission"), ("v1beta1", "admission-beta")],
    )
    def test_admission_renders_the_admission_component(
        self, version: str, component: str, tmp_path: Path
    ) -> None:
        chart = helm_template(
            "createNamespace=true",
            "admission.enabled=true",
            f"admission.apiVersion=admissionregistration.k8s.io/{version}",
        )
        assert_same(chart, render_with([component], tmp_path))

    def test_values_change_only_what_they_name(self) -> None:
        changed = helm_template(
            "createNamespace=true",
            "image.repository=registry.example/deployunits",
            "image.tag=0.2.0",
            "logFormat=text",
            "operator.env.DEPLOYUNITS_CUSTOM_CODE_POLICY=deny",
            "shim.resources.limits.memory=1Gi",
        )
        base = render(MANIFESTS)
        expected = containers(base)
        for container in expected.values():
            container["image"] = "registry.example/deployunits:0.2.0"
            for variable in container["env"]:
                if variable["name"] == "DEPLOYUNITS_LOG_FORMAT":
                    variable["value"] = "text"
        expected["operator"]["env"].append(
            {"name": "DEPLOYUNITS_CUSTOM_CODE_POLICY", "value": "deny"}
        )
        expected["shim"]["resources"]["limits"]["memory"] = "1Gi"
        assert containers(changed) == expected
        # Nothing else moved.
        others = [o for o in changed if o["kind"] != "Deployment"]
        assert_same(others, [o for o in base if o["kind"] != "Deployment"])

    def test_lint_passes(self) -> None:
        result = helm("lint", "--strict", str(CHART))
        assert result.returncode == 0, result.stdout + result.stderr

    def test_schema_enumerates_the_settings_choices(self) -> None:
        schema = json.loads((CHART / "values.schema.json").read_text())
        properties = schema["properties"]
        modes = properties["shim"]["properties"]["authMode"]["enum"]
        assert sorted(modes) == sorted(mode.value for mode in AuthMode)
        formats = properties["logFormat"]["enum"]
        assert sorted(formats) == sorted(
            get_args(ShimSettings.model_fields["log_format"].annotation)
        )

    def test_schema_refuses_a_wrong_value(self) -> None:
        result = helm("template", "deployunits", str(CHART), "--set", "shim.authMode=open")
        assert result.returncode != 0
        assert "/shim/authMode" in result.stderr, result.stderr
        unknown = helm("template", "deployunits", str(CHART), "--set", "replica=2")
        assert unknown.returncode != 0
        assert "replica" in unknown.stderr, unknown.stderr


def install(plane: Cluster, release: str, *args: str) -> subprocess.CompletedProcess[str]:
    """helm install of the chart as `release` into INSTALL_NAMESPACE (created), with `args`."""
    return helm(
        "install",
        release,
        str(CHART),
        "--namespace",
        INSTALL_NAMESPACE,
        "--create-namespace",
        *args,
        kubeconfig=plane.kubeconfig,
    )


def uninstall(plane: Cluster, release: str) -> subprocess.CompletedProcess[str]:
    """helm uninstall of `release`, waiting until its objects are gone."""
    return helm(
        "uninstall", release, "-n", INSTALL_NAMESPACE, "--wait", kubeconfig=plane.kubeconfig
    )


class TestInstall:
    """The chart on a real API server (a control plane of the module's own)."""

    def test_dry_run_on_the_server_creates_nothing(self, own_plane: Cluster) -> None:
        result = install(own_plane, "deployunits", "--dry-run=server")
        assert result.returncode == 0, result.stderr
        assert "STATUS: pending-install" in result.stdout, result.stdout
        missing = own_plane.kubectl("get", "clusterrole", "deployunits-operator", check=False)
        assert missing.returncode != 0

    def test_install_and_uninstall(self, own_plane: Cluster) -> None:
        installed = install(own_plane, "deployunits")
        assert installed.returncode == 0, installed.stderr
        for crd in [o for o in helm_template() if o["kind"] == "CustomResourceDefinition"]:
            own_plane.kubectl("get", "crd", crd["metadata"]["name"])
        objects = [o for o in helm_template() if o["kind"] != "CustomResourceDefinition"]
        for item in objects:
            scope = ["-n", INSTALL_NAMESPACE] if "namespace" in item["metadata"] else []
            own_plane.kubectl("get", item["kind"], item["metadata"]["name"], *scope)
        status = helm(
            "status",
            "deployunits",
            "-n",
            INSTALL_NAMESPACE,
            "-o",
            "json",
            kubeconfig=own_plane.kubeconfig,
        )
        assert json.loads(status.stdout)["info"]["status"] == "deployed"

        removed = uninstall(own_plane, "deployunits")
        assert removed.returncode == 0, removed.stderr
        for item in objects:
            scope = ["-n", INSTALL_NAMESPACE] if "namespace" in item["metadata"] else []
            left = own_plane.kubectl(
                "get", item["kind"], item["metadata"]["name"], *scope, check=False
            )
            assert left.returncode != 0, f"{item['kind']}/{item['metadata']['name']} is left"
        # Helm keeps the CRDs of crds/ (and with them every unit).
        own_plane.kubectl("get", "crd", "deploymentunits.bpm.deployunits.io")

    def test_install_with_ha_and_admission(self, own_plane: Cluster) -> None:
        values = [
            "ha.enabled=true",
            "admission.enabled=true",
            # The embedded plane is Kubernetes 1.35: the policy's beta API.
            "admission.apiVersion=admissionregistration.k8s.io/v1beta1",
        ]
        installed = install(
            own_plane, "deployunits-ha", *[part for value in values for part in ("--set", value)]
        )
        assert installed.returncode == 0, installed.stderr
        own_plane.kubectl("get", "clusterkopfpeering", "deployunits")
        own_plane.kubectl("get", "mutatingadmissionpolicy", "deployunits-finalizer")
        deployment = json.loads(
            own_plane.kubectl(
                "get", "deployment", "deployunits", "-n", INSTALL_NAMESPACE, "-o", "json"
            ).stdout
        )
        assert deployment["spec"]["replicas"] == 2
        removed = uninstall(own_plane, "deployunits-ha")
        assert removed.returncode == 0, removed.stderr
        gone = own_plane.kubectl(
            "get", "mutatingadmissionpolicy", "deployunits-finalizer", check=False
        )
        assert gone.returncode != 0
