"""ServiceAccounts with rights on the project's kinds, their tokens and auth headers."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence

from tests.support.cluster import Cluster

ACCOUNT = """
apiVersion: v1
kind: ServiceAccount
metadata: {{name: {name}}}
"""
RIGHTS = """
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: {name}}}
rules: {rules}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: {name}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: {name}}}
subjects: [{{kind: ServiceAccount, name: {name}, namespace: {namespace}}}]
"""

#: Verbs per resource of the group bpm.deployunits.io.
Rights = Mapping[str, Sequence[str]]


def manifest(name: str, namespace: str, rights: Rights) -> str:
    """A ServiceAccount and, if it has rights, a Role with them bound to it."""
    text = ACCOUNT.format(name=name)
    if rights:
        rules = [
            {"apiGroups": ["bpm.deployunits.io"], "resources": [resource], "verbs": list(verbs)}
            for resource, verbs in rights.items()
        ]
        text += RIGHTS.format(name=name, namespace=namespace, rules=json.dumps(rules))
    return text


def token(cluster: Cluster, namespace: str, name: str) -> str:
    """A fresh token of the ServiceAccount."""
    return cluster.kubectl("create", "token", name, "-n", namespace).stdout.strip()


def accounts(cluster: Cluster, namespace: str, rights: Mapping[str, Rights]) -> dict[str, str]:
    """Each named ServiceAccount with its rights in the namespace, and a token of each."""
    for name, granted in rights.items():
        cluster.apply(manifest(name, namespace, granted), namespace)
    return {name: token(cluster, namespace, name) for name in rights}


def bearer(token: str | None) -> dict[str, str]:
    """The header that presents the token (none without a token)."""
    return {"Authorization": f"Bearer {token}"} if token else {}


def basic(user: str, password: str) -> dict[str, str]:
    """The header of HTTP Basic credentials (the shim takes a token as the password)."""
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}
