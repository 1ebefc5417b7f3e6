"""The kustomize base and the samples render to what a platform team expects to install.

Matrix:
- base: the objects it holds, all namespaced ones in deployunits-system; the CRD copies equal
  crds/; the image tag is the project's version;
- Deployment: one replica, Recreate, --standalone; every container non-root, read-only root,
  no privilege escalation, all capabilities dropped, RuntimeDefault seccomp, requests and
  limits; probes on the ports and paths the processes serve; every DEPLOYUNITS_* variable is a
  real setting; the shim authenticates callers and serves its own namespace;
- Service: reaches the shim's port 8080;
- samples: the generated ConfigMap's name is rewritten into the unit, every sample is valid
  for the models, `inline-unit.yaml` is the `hello-inline` unit the `make run` banner applies,
  the Redeploy names a sample unit and one of its resources;
- sidecar (examples/sidecar with manifests/sidecar): the shim joins the engine's Pod, bound to
  its ProcessEngine and reaching the engine on loopback, authenticating callers, with the
  shim's rights plus `get` on ProcessEngines and Secrets in its namespace.
"""

import tomllib
from typing import Any

import pytest
import yaml

from deployunits import constants
from deployunits.models.deploymentunit import DeploymentUnitSpec
from deployunits.models.redeploy import RedeploySpec
from deployunits.settings import OperatorSettings, ShimSettings
from tests.support.manifests import MANIFESTS, REPO, SAMPLES, render

NAMESPACE = "deployunits-system"

Object = dict[str, Any]


def only(objects: list[Object], kind: str, name: str | None = None) -> Object:
    """The one object of that kind (and name)."""
    found = [
        o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)
    ]
    assert len(found) == 1, f"{kind} {name}: {len(found)} found"
    return found[0]


@pytest.fixture(scope="module")
def base() -> list[Object]:
    return render(MANIFESTS)


@pytest.fixture(scope="module")
def samples() -> list[Object]:
    return render(SAMPLES)


@pytest.fixture(scope="module")
def pod(base: list[Object]) -> Object:
    spec: Object = only(base, "Deployment")["spec"]["template"]["spec"]
    return spec


def container(pod: Object, name: str) -> Object:
    [found] = [c for c in pod["containers"] if c["name"] == name]
    return dict(found)


def env_of(item: Object) -> dict[str, Object]:
    return {entry["name"]: entry for entry in item.get("env", [])}


class TestBase:
    """What `kubectl apply -k manifests/` installs."""

    def test_holds_the_expected_objects(self, base: list[Object]) -> None:
        assert sorted((o["kind"], o["metadata"]["name"]) for o in base) == sorted(
            [
                ("Namespace", NAMESPACE),
                ("CustomResourceDefinition", "deploymentunits.bpm.deployunits.io"),
                ("CustomResourceDefinition", "redeploys.bpm.deployunits.io"),
                ("CustomResourceDefinition", "processengines.bpm.deployunits.io"),
                ("ServiceAccount", "deployunits"),
                ("ClusterRole", "deployunits-operator"),
                ("ClusterRole", "deployunits-engine-credentials"),
                ("ClusterRole", "deployunits-shim"),
                ("ClusterRole", "deployunits-edit"),
                ("ClusterRole", "deployunits-view"),
                ("ClusterRoleBinding", "deployunits-operator"),
                ("ClusterRoleBinding", "deployunits-engine-credentials"),
                ("ClusterRoleBinding", "deployunits-shim"),
                ("ClusterRoleBinding", "deployunits-shim-auth-delegator"),
                ("Deployment", "deployunits"),
                ("Service", "deployunits-shim"),
            ]
        )

    def test_namespaced_objects_live_in_deployunits_system(self, base: list[Object]) -> None:
        for kind in ("ServiceAccount", "Deployment", "Service"):
            assert only(base, kind)["metadata"]["namespace"] == NAMESPACE

    def test_crd_copies_equal_the_generated_crds(self) -> None:
        generated = sorted(p.name for p in (REPO / "crds").glob("*.yaml"))
        copied = sorted(p.name for p in (MANIFESTS / "crds").glob("*.yaml"))
        assert copied == sorted([*generated, "kustomization.yaml"])
        for name in generated:
            assert (MANIFESTS / "crds" / name).read_text() == (REPO / "crds" / name).read_text(), (
                f"manifests/crds/{name} differs from crds/{name}: "
                "run `python -m deployunits.models.crd manifests/crds`"
            )
        listed = yaml.safe_load((MANIFESTS / "crds" / "kustomization.yaml").read_text())
        assert sorted(listed["resources"]) == generated

    def test_chart_crds_equal_the_generated_crds(self) -> None:
        # Helm reads only files under the chart, so the chart holds a third rendered copy.
        chart = REPO / "charts" / "deployunits" / "crds"
        generated = sorted(p.name for p in (REPO / "crds").glob("*.yaml"))
        assert sorted(p.name for p in chart.iterdir()) == generated
        for name in generated:
            assert (chart / name).read_text() == (REPO / "crds" / name).read_text(), (
                f"charts/deployunits/crds/{name} differs from crds/{name}: "
                "run `python -m deployunits.models.crd charts/deployunits/crds`"
            )

    def test_chart_version_is_the_project_version(self) -> None:
        project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
        chart = yaml.safe_load((REPO / "charts" / "deployunits" / "Chart.yaml").read_text())
        values = yaml.safe_load((REPO / "charts" / "deployunits" / "values.yaml").read_text())
        assert chart["version"] == chart["appVersion"] == project["version"]
        assert values["image"]["tag"] == project["version"]

    def test_image_tag_is_the_project_version(self) -> None:
        project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
        kustomization = yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())
        [image] = kustomization["images"]
        assert image == {"name": "deployunits", "newTag": project["version"]}


class TestDeployment:
    """The operator with the shim as a sidecar: hardened, probed, bounded."""

    def test_one_replica_recreated_and_standalone(self, base: list[Object], pod: Object) -> None:
        deployment = only(base, "Deployment")
        assert deployment["spec"]["replicas"] == 1
        assert deployment["spec"]["strategy"] == {"type": "Recreate"}
        assert container(pod, "operator")["args"] == ["--standalone"]

    def test_pod_runs_as_the_image_user_with_runtime_default_seccomp(self, pod: Object) -> None:
        context = pod["securityContext"]
        assert context["runAsNonRoot"] is True
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}
        user = next(
            line.split()[1]
            for line in (REPO / "Dockerfile").read_text().splitlines()
            if line.startswith("USER ")
        )
        uid, gid = user.split(":")
        assert (context["runAsUser"], context["runAsGroup"]) == (int(uid), int(gid))
        assert int(uid) != 0

    @pytest.mark.parametrize("name", ["operator", "shim"])
    def test_container_is_hardened(self, pod: Object, name: str) -> None:
        context = container(pod, name)["securityContext"]
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert context.get("runAsNonRoot", pod["securityContext"]["runAsNonRoot"]) is True
        assert not context.get("privileged", False)

    @pytest.mark.parametrize("name", ["operator", "shim"])
    def test_container_has_requests_and_limits(self, pod: Object, name: str) -> None:
        resources = container(pod, name)["resources"]
        for part in ("requests", "limits"):
            assert set(resources[part]) == {"cpu", "memory"}, part

    def test_both_containers_run_one_image(self, pod: Object) -> None:
        assert {c["image"] for c in pod["containers"]} == {"deployunits:0.1.0"}

    def test_operator_probe_is_kopf_liveness_on_its_port(self, pod: Object) -> None:
        operator = container(pod, "operator")
        env = env_of(operator)
        assert env["DEPLOYUNITS_PROBE_PORT"]["value"] == str(constants.OPERATOR_PROBE_PORT)
        assert env["DEPLOYUNITS_PROBE_HOST"]["value"] == "0.0.0.0"
        ports = {p["name"]: p["containerPort"] for p in operator["ports"]}
        assert ports == {"probes": constants.OPERATOR_PROBE_PORT}
        for probe in ("startupProbe", "livenessProbe"):
            assert operator[probe]["httpGet"] == {"path": "/healthz", "port": "probes"}
        # Readiness would tie the shim's Service endpoints to the operator's health.
        assert "readinessProbe" not in operator

    def test_shim_probes_are_its_health_and_readiness_paths(self, pod: Object) -> None:
        shim = container(pod, "shim")
        assert env_of(shim)["DEPLOYUNITS_PORT"]["value"] == str(constants.SHIM_PORT)
        assert {p["name"]: p["containerPort"] for p in shim["ports"]} == {
            "http": constants.SHIM_PORT
        }
        assert shim["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
        assert shim["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert shim["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}

    def test_shim_authenticates_callers_and_serves_its_own_namespace(self, pod: Object) -> None:
        env = env_of(container(pod, "shim"))
        assert env["DEPLOYUNITS_AUTH_MODE"]["value"] == "kubernetes"
        assert env["DEPLOYUNITS_HOST"]["value"] == "0.0.0.0"
        assert env["DEPLOYUNITS_NAMESPACE"]["valueFrom"] == {
            "fieldRef": {"fieldPath": "metadata.namespace"}
        }
        # The settings accept that combination (auth mode "none" would refuse 0.0.0.0).
        ShimSettings(host="0.0.0.0", auth_mode="kubernetes")

    def test_operator_identity_is_the_pod_name(self, pod: Object) -> None:
        # kopf asks the passwd database for the user name unless POD_ID is set, and a numeric
        # user of an arbitrary id need not be in it.
        assert env_of(container(pod, "operator"))["POD_ID"]["valueFrom"] == {
            "fieldRef": {"fieldPath": "metadata.name"}
        }

    @pytest.mark.parametrize(
        ("name", "settings"), [("operator", OperatorSettings), ("shim", ShimSettings)]
    )
    def test_every_deployunits_variable_is_a_setting(
        self, pod: Object, name: str, settings: type[OperatorSettings | ShimSettings]
    ) -> None:
        for variable in env_of(container(pod, name)):
            if variable.startswith("DEPLOYUNITS_"):
                field = variable.removeprefix("DEPLOYUNITS_").lower()
                assert field in settings.model_fields, f"{name}: {variable} is no setting"

    def test_shim_gets_a_writable_tmp_and_nothing_else(self, pod: Object) -> None:
        mounts = container(pod, "shim")["volumeMounts"]
        assert mounts == [{"name": "tmp", "mountPath": "/tmp"}]
        [volume] = pod["volumes"]
        assert volume["name"] == "tmp" and "emptyDir" in volume
        assert "volumeMounts" not in container(pod, "operator")

    def test_pod_uses_the_service_account_the_rbac_binds(
        self, base: list[Object], pod: Object
    ) -> None:
        account = only(base, "ServiceAccount")["metadata"]["name"]
        assert pod["serviceAccountName"] == account


class TestService:
    """The shim is reachable inside the cluster on port 8080."""

    def test_service_selects_the_pod_and_targets_the_shim_port(
        self, base: list[Object], pod: Object
    ) -> None:
        service = only(base, "Service")
        labels = only(base, "Deployment")["spec"]["template"]["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= labels.items()
        [port] = service["spec"]["ports"]
        assert port["port"] == constants.SHIM_PORT
        assert port["targetPort"] == "http"
        assert "http" in {p["name"] for p in container(pod, "shim")["ports"]}


class TestSamples:
    """manifests/samples: a GitOps folder and one example of every source and kind."""

    def test_unit_names_the_generated_config_map(self, samples: list[Object]) -> None:
        config_map = only(samples, "ConfigMap")
        generated = config_map["metadata"]["name"]
        assert generated.startswith("invoice-processes-"), "the name carries a content hash"
        unit = only(samples, "DeploymentUnit", "invoice")
        assert unit["spec"]["resources"]["configMaps"] == [{"name": generated}]
        assert sorted(config_map["data"]) == ["approver.dmn", "invoice.bpmn"]

    def test_every_sample_is_valid_for_the_models(self, samples: list[Object]) -> None:
        kinds = {"DeploymentUnit": DeploymentUnitSpec, "Redeploy": RedeploySpec}
        checked = 0
        for item in samples:
            if item["kind"] in kinds:
                assert item["apiVersion"] == constants.API_VERSION
                kinds[item["kind"]].model_validate(item["spec"])
                checked += 1
        assert checked == 4

    def test_there_is_one_sample_of_each_source(self, samples: list[Object]) -> None:
        sources = sorted(
            next(iter(o["spec"]["resources"])) for o in samples if o["kind"] == "DeploymentUnit"
        )
        assert sources == ["configMaps", "inline", "maven"]

    def test_inline_sample_is_the_unit_make_run_applies(self) -> None:
        [unit] = list(yaml.safe_load_all((SAMPLES / "inline-unit.yaml").read_text()))
        assert unit["kind"] == "DeploymentUnit"
        assert unit["metadata"]["name"] == "hello-inline"
        assert "namespace" not in unit["metadata"]
        [resource] = unit["spec"]["resources"]["inline"]
        assert resource["name"].endswith(".bpmn")

    def test_maven_sample_is_identified_by_its_coordinates(self, samples: list[Object]) -> None:
        [unit] = [
            o
            for o in samples
            if o["kind"] == "DeploymentUnit" and "maven" in o["spec"]["resources"]
        ]
        maven = unit["spec"]["resources"]["maven"]
        assert unit["spec"]["deploymentId"] == (
            f"{maven['groupId']}:{maven['artifactId']}:{maven['version']}"
        )

    def test_redeploy_names_a_sample_unit_and_its_resource(self, samples: list[Object]) -> None:
        redeploy = only(samples, "Redeploy")
        [unit] = [
            o
            for o in samples
            if o["kind"] == "DeploymentUnit"
            and o["spec"]["deploymentId"] == redeploy["spec"]["deploymentId"]
        ]
        config_map = only(samples, "ConfigMap", unit["spec"]["resources"]["configMaps"][0]["name"])
        assert set(redeploy["spec"]["resourceNames"]) <= set(config_map["data"])
        # Kept in Git, a request with a TTL would be re-created and run again after it.
        assert "ttlSecondsAfterFinished" not in redeploy["spec"]


def test_the_admission_components_put_the_operators_finalizer_on_new_units() -> None:
    (policy, binding) = render(MANIFESTS / "admission")
    assert policy["apiVersion"] == "admissionregistration.k8s.io/v1"
    assert policy["kind"] == "MutatingAdmissionPolicy"
    assert binding["spec"]["policyName"] == policy["metadata"]["name"]
    spec = policy["spec"]
    assert spec["failurePolicy"] == "Ignore"  # the operator adds it anyway
    [rule] = spec["matchConstraints"]["resourceRules"]
    assert rule["apiGroups"] == [constants.GROUP]
    assert rule["resources"] == [constants.DEPLOYMENT_UNIT_PLURAL]
    assert rule["operations"] == ["CREATE"]
    [mutation] = spec["mutations"]
    assert f'finalizers: ["{constants.FINALIZER}"]' in mutation["applyConfiguration"]["expression"]
    # The beta component is the same policy under the beta API version.
    beta = render(REPO / "manifests" / "admission-beta")
    assert [o["apiVersion"] for o in beta] == ["admissionregistration.k8s.io/v1beta1"] * 2
    assert [{**o, "apiVersion": None} for o in beta] == [
        {**o, "apiVersion": None} for o in (policy, binding)
    ]


class TestSidecar:
    """examples/sidecar with the component manifests/sidecar: the shim in a Camunda engine's Pod."""

    @pytest.fixture(scope="class")
    def example(self) -> list[Object]:
        return render(REPO / "examples" / "sidecar")

    @pytest.fixture(scope="class")
    def engine_pod(self, example: list[Object]) -> Object:
        spec: Object = only(example, "Deployment", "camunda")["spec"]["template"]["spec"]
        return spec

    def test_the_shim_joins_the_engines_pod_and_reaches_it_on_loopback(
        self, example: list[Object], engine_pod: Object
    ) -> None:
        assert sorted(c["name"] for c in engine_pod["containers"]) == ["engine", "shim"]
        shim = env_of(container(engine_pod, "shim"))
        engine = only(example, "ProcessEngine", shim["DEPLOYUNITS_ENGINE"]["value"])
        assert engine["metadata"]["annotations"][constants.PREFIX + "/default-engine"] == "true"
        [engine_port] = container(engine_pod, "engine")["ports"]
        url = shim["DEPLOYUNITS_ENGINE_URL"]["value"]
        assert url == f"http://127.0.0.1:{engine_port['containerPort']}/engine-rest"
        # The operator, in another Pod, pushes through the engine's own Service.
        service = only(example, "Service", "camunda-engine")
        assert engine["spec"]["camunda7"]["url"].startswith(
            f"http://camunda-engine:{service['spec']['ports'][0]['port']}/"
        )

    def test_every_deployunits_variable_is_a_setting_and_the_shim_authenticates(
        self, engine_pod: Object
    ) -> None:
        shim = container(engine_pod, "shim")
        variables = env_of(shim)
        for variable in variables:
            if variable.startswith("DEPLOYUNITS_"):
                field = variable.removeprefix("DEPLOYUNITS_").lower()
                assert field in ShimSettings.model_fields, f"{variable} is no setting"
        assert variables["DEPLOYUNITS_AUTH_MODE"]["value"] == "kubernetes"
        assert variables["DEPLOYUNITS_NAMESPACES"]["value"] == '["$(DEPLOYUNITS_NAMESPACE)"]'
        security = shim["securityContext"]
        assert security["runAsNonRoot"] and security["readOnlyRootFilesystem"]
        assert security["capabilities"] == {"drop": ["ALL"]}

    def test_clients_reach_the_shim_and_its_account_has_the_shims_rights(
        self, example: list[Object], engine_pod: Object
    ) -> None:
        [port] = only(example, "Service", "camunda")["spec"]["ports"]
        assert port["port"] == constants.SHIM_PORT
        assert port["targetPort"] in {p["name"] for p in container(engine_pod, "shim")["ports"]}
        account = engine_pod["serviceAccountName"]
        bound = {
            (o["roleRef"]["kind"], o["roleRef"]["name"])
            for o in example
            if o["kind"] in ("RoleBinding", "ClusterRoleBinding")
            and {"kind": "ServiceAccount", "name": account, "namespace": "camunda"} in o["subjects"]
        }
        assert bound == {
            ("ClusterRole", "deployunits-shim"),
            ("ClusterRole", "system:auth-delegator"),
            ("Role", "deployunits-sidecar"),
        }
        rules = only(example, "Role", "deployunits-sidecar")["rules"]
        assert {(r["resources"][0], tuple(r["verbs"])) for r in rules} == {
            (constants.PROCESS_ENGINE_PLURAL, ("get",)),
            ("secrets", ("get",)),
        }
