"""The RBAC in manifests/ is no broader than an allow-list in which every right has a reason.

Matrix: no wildcard verb, resource or API group anywhere; every granted (role, group, resource,
verb) is in ALLOWED, and everything in ALLOWED is granted (the list cannot go stale); no rights
to Secrets, Pods, RBAC objects, non-resource URLs, escalate, bind or impersonate; every rule in
the YAML carries a comment; bindings tie exactly the operator's, the shim's and
system:auth-delegator rights to the Pod's ServiceAccount; the people-facing roles aggregate into
the built-in admin, edit and view roles and are bound to nobody.
That the rights are also sufficient is proven by running the operator and the shim with them
(tests/integration/test_manifests_serviceaccount.py).
"""

import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.manifests import MANIFESTS, render

GROUP = "bpm.deployunits.io"
ACCOUNT = {"kind": "ServiceAccount", "name": "deployunits", "namespace": "deployunits-system"}

Object = dict[str, Any]
Right = tuple[str, str, str, str]  # role, API group, resource, verb

EDIT = frozenset(
    {"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}
)

#: (role, API group, resource) → (verbs, why). Nothing outside this is granted.
ALLOWED: dict[tuple[str, str, str], tuple[frozenset[str], str]] = {
    ("deployunits-operator", GROUP, "deploymentunits"): (
        frozenset({"get", "list", "watch", "create", "patch"}),
        "kopf watches and patches units; the operator creates the unit a Redeploy asks for",
    ),
    ("deployunits-operator", GROUP, "redeploys"): (
        frozenset({"get", "list", "watch", "patch", "delete"}),
        "kopf watches and patches Redeploys; finished ones are deleted after their TTL",
    ),
    ("deployunits-operator", GROUP, "deploymentunits/status"): (
        frozenset({"patch"}),
        "the operator is the only writer of status",
    ),
    ("deployunits-operator", GROUP, "redeploys/status"): (
        frozenset({"patch"}),
        "the operator answers a Redeploy in its status",
    ),
    ("deployunits-operator", GROUP, "processengines"): (
        frozenset({"get", "list", "watch", "patch"}),
        "kopf watches ProcessEngines (index by namespace); the operator reads one by name",
    ),
    ("deployunits-operator", GROUP, "processengines/status"): (
        frozenset({"patch"}),
        "the operator writes an engine's Ready, version and counts",
    ),
    ("deployunits-engine-credentials", "", "secrets"): (
        frozenset({"get"}),
        "an engine's credentials and CA bundle, read by name from its ProcessEngine's Secret",
    ),
    ("deployunits-operator", "", "configmaps"): (
        frozenset({"get", "list", "watch", "create", "patch"}),
        "read and watch source ConfigMaps (drift); create snapshots and add owners to them",
    ),
    ("deployunits-operator", "", "events"): (
        frozenset({"create"}),
        "Kubernetes Events on the custom resources",
    ),
    ("deployunits-operator", "", "namespaces"): (
        frozenset({"get"}),
        "the per-namespace policy annotation",
    ),
    ("deployunits-operator", "apiextensions.k8s.io", "customresourcedefinitions"): (
        frozenset({"list", "watch"}),
        "kopf notices CRDs appearing, changing and disappearing",
    ),
    ("deployunits-shim", GROUP, "deploymentunits"): (
        frozenset({"get", "list", "watch", "create", "patch", "delete"}),
        "watch-fed cache for reads; deploy, undeploy (spec.state) and delete over REST",
    ),
    ("deployunits-shim", GROUP, "redeploys"): (
        frozenset({"get", "list", "watch", "create", "delete"}),
        "a REST redeploy creates a Redeploy, waits for its answer and removes it",
    ),
    ("deployunits-shim", "", "configmaps"): (
        frozenset({"get", "create", "delete", "patch"}),
        "serve resource data; store uploads; remove uploads of a refused deployment; "
        "append jBPM jobs to the ledger",
    ),
    ("deployunits-shim", "", "namespaces"): (
        frozenset({"get"}),
        "a named engine of the Camunda dialect is a namespace that exists",
    ),
    ("deployunits-shim", "", "events"): (
        frozenset({"list"}),
        "the console's unit page shows the unit's Events",
    ),
    ("deployunits-edit", GROUP, "deploymentunits"): (
        EDIT,
        "namespace editors manage units (kubectl, GitOps tools, the shim's SARs)",
    ),
    ("deployunits-edit", GROUP, "redeploys"): (
        EDIT,
        "namespace editors ask for redeploys",
    ),
    ("deployunits-view", GROUP, "deploymentunits"): (
        frozenset({"get", "list", "watch"}),
        "namespace viewers read units",
    ),
    ("deployunits-view", GROUP, "redeploys"): (
        frozenset({"get", "list", "watch"}),
        "namespace viewers read redeploy requests",
    ),
    ("deployunits-view", GROUP, "deploymentunits/status"): (
        frozenset({"get", "list", "watch"}),
        "namespace viewers read unit status",
    ),
    ("deployunits-view", GROUP, "redeploys/status"): (
        frozenset({"get", "list", "watch"}),
        "namespace viewers read redeploy status",
    ),
}

#: Roles the Pod's ServiceAccount is bound to, built-in ones included.
POD_ROLES = {
    "deployunits-operator",
    "deployunits-engine-credentials",
    "deployunits-shim",
    "system:auth-delegator",
}
#: Built-in roles that may be referenced without being defined here.
BUILT_IN = {"system:auth-delegator"}
PEOPLE_ROLES = {
    "deployunits-edit": {
        "rbac.authorization.k8s.io/aggregate-to-admin",
        "rbac.authorization.k8s.io/aggregate-to-edit",
    },
    "deployunits-view": {"rbac.authorization.k8s.io/aggregate-to-view"},
}


@pytest.fixture(scope="module")
def objects() -> list[Object]:
    return render(MANIFESTS)


@pytest.fixture(scope="module")
def roles(objects: list[Object]) -> list[Object]:
    found = [o for o in objects if o["kind"] in {"ClusterRole", "Role"}]
    assert found
    return found


@pytest.fixture(scope="module")
def bindings(objects: list[Object]) -> list[Object]:
    return [o for o in objects if o["kind"] in {"ClusterRoleBinding", "RoleBinding"}]


def granted(roles: list[Object]) -> set[Right]:
    """Every (role, group, resource, verb) the roles grant."""
    rights: set[Right] = set()
    for role in roles:
        for rule in role.get("rules", []):
            for group in rule.get("apiGroups", []):
                for resource in rule.get("resources", []):
                    for verb in rule.get("verbs", []):
                        rights.add((role["metadata"]["name"], group, resource, verb))
    return rights


class TestBreadth:
    """Nothing is granted that is not listed with a reason."""

    def test_no_wildcards(self, roles: list[Object]) -> None:
        for role in roles:
            for rule in role.get("rules", []):
                for field in ("apiGroups", "resources", "verbs", "resourceNames"):
                    assert not any("*" in value for value in rule.get(field, [])), (
                        f"{role['metadata']['name']}: wildcard in {field}: {rule}"
                    )

    def test_every_granted_right_is_allowed(self, roles: list[Object]) -> None:
        extra = {
            right
            for right in granted(roles)
            if right[3] not in ALLOWED.get(right[:3], (frozenset(), ""))[0]
        }
        assert not extra, f"granted but not in ALLOWED (add it with a reason, or drop it): {extra}"

    def test_every_allowed_right_is_granted(self, roles: list[Object]) -> None:
        rights = granted(roles)
        missing = {(*key, verb) for key, (verbs, _) in ALLOWED.items() for verb in verbs} - rights
        assert not missing, f"ALLOWED lists rights no role grants: {missing}"

    def test_every_allowed_right_has_a_reason(self) -> None:
        for key, (verbs, reason) in ALLOWED.items():
            assert verbs and len(reason) > 10, key

    def test_nothing_sensitive(self, roles: list[Object]) -> None:
        for role, group, resource, verb in granted(roles):
            if (role, resource, verb) == ("deployunits-engine-credentials", "secrets", "get"):
                # An engine's credentials, by name: never listed or watched (see ALLOWED).
                continue
            assert resource.split("/")[0] not in {"secrets", "pods", "serviceaccounts"}, resource
            assert group != "rbac.authorization.k8s.io", (role, resource)
            assert verb not in {"escalate", "bind", "impersonate", "approve"}, (role, verb)
        for role in roles:
            for rule in role.get("rules", []):
                assert "nonResourceURLs" not in rule, role["metadata"]["name"]
            assert "aggregationRule" not in role, role["metadata"]["name"]


class TestEngineCredentials:
    """The one right on Secrets is a role of its own, which a component binds per namespace."""

    def test_the_component_drops_the_cluster_wide_binding_and_nothing_else(
        self, objects: list[Object], tmp_path: Path
    ) -> None:
        overlay = tmp_path / "overlay"
        overlay.mkdir()
        (overlay / "kustomization.yaml").write_text(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
            f"resources: [{os.path.relpath(MANIFESTS, overlay)}]\n"
            "components: "
            f"[{os.path.relpath(MANIFESTS / 'engine-credentials-per-namespace', overlay)}]\n"
        )
        narrowed = render(overlay)
        names = {(o["kind"], o["metadata"]["name"]) for o in objects}
        dropped = names - {(o["kind"], o["metadata"]["name"]) for o in narrowed}
        assert dropped == {("ClusterRoleBinding", "deployunits-engine-credentials")}
        assert ("ClusterRole", "deployunits-engine-credentials") in names

    def test_the_example_binds_the_role_in_one_namespace(self) -> None:
        path = MANIFESTS / "engine-credentials-per-namespace" / "rolebinding-example.yaml"
        binding = yaml.safe_load(path.read_text())
        assert binding["kind"] == "RoleBinding"
        assert binding["roleRef"]["name"] == "deployunits-engine-credentials"
        assert binding["subjects"] == [ACCOUNT]


class TestDocumentation:
    """Each rule says why it is there."""

    @pytest.mark.parametrize("path", sorted((MANIFESTS / "rbac").glob("*.yaml")), ids=str)
    def test_every_rule_has_a_comment(self, path: Path) -> None:
        lines = path.read_text().splitlines()
        rules = [n for n, line in enumerate(lines) if re.match(r"\s*- apiGroups:", line)]
        assert rules, path
        for number in rules:
            assert lines[number - 1].strip().startswith("#"), (
                f"{path.name}:{number + 1}: a rule without a comment saying why"
            )


class TestBindings:
    """Who gets which role."""

    def test_pod_account_gets_exactly_the_operator_shim_and_auth_delegator_roles(
        self, bindings: list[Object]
    ) -> None:
        bound = set()
        for binding in bindings:
            for subject in binding["subjects"]:
                assert subject == ACCOUNT, f"{binding['metadata']['name']} binds {subject}"
            bound.add(binding["roleRef"]["name"])
        assert bound == POD_ROLES
        # Cluster-wide: the operator watches, and the shim serves, every namespace.
        assert {b["kind"] for b in bindings} == {"ClusterRoleBinding"}

    def test_bindings_name_defined_or_built_in_roles(
        self, roles: list[Object], bindings: list[Object]
    ) -> None:
        defined = {r["metadata"]["name"] for r in roles}
        for binding in bindings:
            reference = binding["roleRef"]
            assert reference["kind"] == "ClusterRole"
            assert reference["name"] in defined | BUILT_IN

    def test_people_roles_aggregate_into_the_built_in_roles(self, roles: list[Object]) -> None:
        for role in roles:
            name = role["metadata"]["name"]
            if name in PEOPLE_ROLES:
                labels = role["metadata"].get("labels", {})
                aggregate = {k for k, v in labels.items() if v == "true"}
                assert aggregate == PEOPLE_ROLES[name], name
            else:
                assert name in POD_ROLES, f"{name} is neither a Pod role nor a people role"
