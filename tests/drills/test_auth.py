"""Drill: the shim's auth mode `kubernetes` against hostile and unlucky callers, both dialects.

Two shims (one per namespace, the jBPM dialect serves only its own) ask the real API server
(TokenReview, SubjectAccessReview) about: no token, an expired ServiceAccount token signed by
the cluster's own key (the same token with a future expiry is accepted, so the refusal is about
expiry), a token signed by a key the API server does not trust, one for another audience, an
unsigned one, one of a deleted ServiceAccount, malformed credentials, a ServiceAccount without
rights, and one with rights in its namespace only. Every refusal must carry the dialect's error
body; no answer may be a 5xx. Two more checks: a refused token costs one TokenReview per deny
cache period, not one per request, and every documented route but engine discovery wants a
token.
"""

import base64
import json
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from devcluster.processes import ShimProcess
from tests.drills.figures import Figures
from tests.support import jbpm, rbac
from tests.support.cluster import Cluster

DRILL = "auth"
ACCOUNTS: dict[str, rbac.Rights] = {
    "deployer": {
        "deploymentunits": ["get", "list", "create", "patch", "delete"],
        "redeploys": ["create"],
    },
    "nobody": {},
}
BPMN = (
    b'<?xml version="1.0"?><definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    b'targetNamespace="http://x"><process id="drill" isExecutable="true"/></definitions>'
)
JBPM_ID = "org.drill:auth:1.0"
HOUR = 3600


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class TokenForge:
    """Re-signs the claims of a real ServiceAccount token, as the API server would (ES256)."""

    header: dict[str, Any]
    claims: dict[str, Any]

    @classmethod
    def from_token(cls, token: str) -> "TokenForge":
        header, claims, _ = token.split(".")
        return cls(json.loads(b64url_decode(header)), json.loads(b64url_decode(claims)))

    def sign(self, key: ec.EllipticCurvePrivateKey, **changes: Any) -> str:
        assert self.header["alg"] == "ES256", self.header  # the plane's signer is an EC P-256 key
        claims = {**self.claims, **changes}
        signed = ".".join(
            b64url(json.dumps(part, separators=(",", ":")).encode())
            for part in (self.header, claims)
        )
        r, s = decode_dss_signature(key.sign(signed.encode(), ec.ECDSA(hashes.SHA256())))
        return f"{signed}.{b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def cluster_signing_key(cluster: Cluster) -> ec.EllipticCurvePrivateKey:
    """The key the embedded API server signs (and verifies) ServiceAccount tokens with."""
    assert cluster.plane is not None, "the auth drill needs the embedded control plane"
    pem = (cluster.plane.directory / "pki" / "sa-signer.key").read_bytes()
    key = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


@dataclass
class Tally:
    """Every answer the drill received, by status."""

    statuses: Counter[int] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)

    def note(self, response: httpx.Response) -> httpx.Response:
        self.statuses[response.status_code] += 1
        if response.status_code >= 500:
            request = response.request
            self.server_errors.append(
                f"{request.method} {request.url} → {response.status_code}: {response.text[:300]}"
            )
        return response


@dataclass
class Dialect:
    """How one REST dialect is called and how it refuses."""

    name: str
    base: Callable[[str], str]  # namespace → base URL
    read: Callable[[httpx.Client], httpx.Response]
    write: Callable[[httpx.Client], httpx.Response]
    check_refusal: Callable[[httpx.Response, int], None]


def camunda_refusal(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, (status, response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert set(body) >= {"type", "message", "code"}, body
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Bearer"), response.headers
        assert body["type"] == "AuthenticationException", body
    else:
        assert body["type"] == "AuthorizationException", body
        assert body["resourceName"] == "Deployment", body
        assert body["permissionName"] in ("READ", "CREATE"), body
        assert body["missingAuthorizations"][0]["permissionName"] == body["permissionName"]
        assert body["message"].startswith(f"The user with id '{body['userId']}'"), body


def jbpm_refusal(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, (status, response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/xml"), response.headers
    fields = jbpm.xml_fields(jbpm.parse_xml(response.content))
    assert fields["status"] == ("FORBIDDEN" if status == 403 else "FAILURE"), fields
    assert fields["message"], fields
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Bearer"), response.headers
        assert fields["message"].startswith("KieRemoteRestOperationException thrown"), fields


@pytest.fixture
def other_namespace(cluster: Cluster) -> Iterator[str]:
    with cluster.scratch_namespace("t") as name:
        yield name


@pytest.fixture
def shims(
    cluster: Cluster, namespace: str, other_namespace: str, tmp_path: Path
) -> Iterator[dict[str, ShimProcess]]:
    """A shim per namespace, in auth mode `kubernetes` (the admin identity may review)."""
    started: dict[str, ShimProcess] = {}
    try:
        for space in (namespace, other_namespace):
            shim = ShimProcess(
                cluster.kubeconfig,
                tmp_path / f"shim-{space}.log",
                namespace=space,
                auth_mode="kubernetes",
            )
            shim.start(timeout=120)
            started[space] = shim
        yield started
    finally:
        for shim in started.values():
            shim.stop()


def dialects(shims: dict[str, ShimProcess]) -> list[Dialect]:
    any_shim = next(iter(shims.values()))
    return [
        Dialect(
            "camunda",
            base=any_shim.engine,  # one shim serves every namespace as a named engine
            read=lambda api: api.get("/deployment"),
            write=lambda api: api.post("/deployment/create", files={"a": ("a.bpmn", BPMN)}),
            check_refusal=camunda_refusal,
        ),
        Dialect(
            "jbpm",
            base=lambda space: shims[space].url + jbpm.PREFIX,
            read=lambda api: api.get("/deployment/"),
            write=lambda api: api.post(f"/deployment/{JBPM_ID}/deploy"),
            check_refusal=jbpm_refusal,
        ),
    ]


@pytest.mark.timeout(600)
def test_tokens_and_rights_are_checked_in_both_dialects(
    cluster: Cluster,
    namespace: str,
    other_namespace: str,
    shims: dict[str, ShimProcess],
    figures: Figures,
) -> None:
    real = rbac.accounts(cluster, namespace, ACCOUNTS)
    cluster.kubectl("create", "serviceaccount", "gone", "-n", namespace)
    orphan = rbac.token(cluster, namespace, "gone")
    cluster.kubectl("delete", "serviceaccount", "gone", "-n", namespace)
    forge = TokenForge.from_token(real["deployer"])
    assert cluster.plane is not None
    assert forge.claims["iss"] == cluster.plane.url, forge.claims
    trusted = cluster_signing_key(cluster)
    now = int(time.time())
    past = {"iat": now - 2 * HOUR, "nbf": now - 2 * HOUR}
    expired = forge.sign(trusted, **past, exp=now - HOUR)
    renewed = forge.sign(trusted, **past, exp=now + HOUR)
    foreign = forge.sign(ec.generate_private_key(ec.SECP256R1()), **past, exp=now + HOUR)
    unsigned = (
        ".".join(
            b64url(json.dumps(part).encode())
            for part in ({"alg": "none"}, {**forge.claims, "exp": now + HOUR})
        )
        + "."
    )
    other_audience = forge.sign(trusted, **past, exp=now + HOUR, aud=["https://elsewhere"])
    unauthenticated: dict[str, dict[str, str]] = {
        "no token": {},
        "expired token": {"Authorization": f"Bearer {expired}"},
        "foreign token": {"Authorization": f"Bearer {foreign}"},
        "token for another audience": {"Authorization": f"Bearer {other_audience}"},
        "expired token as basic password": rbac.basic("deployer", expired),
        "token of a deleted ServiceAccount": {"Authorization": f"Bearer {orphan}"},
        "unsigned token": {"Authorization": f"Bearer {unsigned}"},
        "bearer without a token": {"Authorization": "Bearer"},
        "basic without a password": {"Authorization": "Basic " + b64url(b"user:")},
        "basic that is not base64": {"Authorization": "Basic !!!"},
        "unknown scheme": {"Authorization": f"Token {renewed}"},
        "garbage token": {"Authorization": "Bearer " + "x" * 8000},
        "huge token": {"Authorization": "Bearer " + "x" * 60000},
    }
    tally = Tally()
    for dialect in dialects(shims):

        def call(
            space: str,
            headers: dict[str, str],
            dialect: Dialect = dialect,
            *,
            write: bool = True,
        ) -> list[httpx.Response]:
            with httpx.Client(base_url=dialect.base(space), headers=headers, timeout=60) as api:
                answers = [tally.note(dialect.read(api))]
                if write:
                    answers.append(tally.note(dialect.write(api)))
                return answers

        for what, headers in unauthenticated.items():
            for response in call(namespace, headers):
                try:
                    dialect.check_refusal(response, 401)
                except AssertionError as error:
                    raise AssertionError(f"{dialect.name}, {what}: {error}") from error

        # The forged token with a future expiry is accepted, so the 401 above is the expiry.
        # Reads only: a write would want an operator to deploy it.
        for token in (renewed, real["deployer"]):
            [read] = call(namespace, {"Authorization": f"Bearer {token}"}, write=False)
            assert read.status_code == 200, (dialect.name, read.status_code, read.text)

        for who, space in (("nobody", namespace), ("deployer", other_namespace)):
            for response in call(space, {"Authorization": f"Bearer {real[who]}"}):
                dialect.check_refusal(response, 403)
                # The refusal names the caller the API server authenticated.
                assert f"system:serviceaccount:{namespace}:{who}" in response.text, response.text

    figures.record(DRILL, "requests sent", sum(tally.statuses.values()))
    for status, count in sorted(tally.statuses.items()):
        figures.record(DRILL, f"answers {status}", count)
    assert tally.server_errors == []
    for shim in shims.values():
        assert "Traceback" not in shim.log.read_text(errors="replace"), shim.tail(200)


def token_reviews(cluster: Cluster) -> float:
    """TokenReviews the API server has answered so far (its own request counter)."""
    total = 0.0
    for line in cluster.kubectl("get", "--raw", "/metrics").stdout.splitlines():
        if (
            line.startswith("apiserver_request_total{")
            and 'resource="tokenreviews"' in line
            and 'verb="POST"' in line
        ):
            total += float(line.rsplit(" ", 1)[1])
    return total


@pytest.mark.timeout(300)
def test_a_refused_token_is_remembered_not_reviewed_per_request(
    cluster: Cluster, namespace: str, shims: dict[str, ShimProcess], figures: Figures
) -> None:
    """Unauthenticated callers must not cost the API server a TokenReview per request."""
    forge = TokenForge.from_token(rbac.accounts(cluster, namespace, ACCOUNTS)["deployer"])
    foreign = forge.sign(ec.generate_private_key(ec.SECP256R1()))
    requests = 20
    before, started = token_reviews(cluster), time.monotonic()
    with httpx.Client(
        base_url=shims[namespace].engine(namespace),
        headers={"Authorization": f"Bearer {foreign}"},
        timeout=60,
    ) as api:
        statuses = Counter(api.get("/deployment").status_code for _ in range(requests))
    elapsed = time.monotonic() - started
    reviews = token_reviews(cluster) - before
    figures.record(DRILL, f"token reviews for {requests} requests with one refused token", reviews)
    assert statuses == {401: requests}, statuses
    # A refusal is remembered for at most 5 s (the deny cache), so one review per 5 s at most.
    assert reviews <= elapsed / 5 + 1, (reviews, elapsed)


#: Engine discovery, which clients call before they know whom to authenticate as.
PUBLIC = {("get", "/engine-rest/engine"), ("get", "/engine-rest/version")}
PATH_VALUES = {"deploymentId": JBPM_ID}


@pytest.mark.timeout(300)
def test_every_route_wants_a_token(
    namespace: str, shims: dict[str, ShimProcess], figures: Figures
) -> None:
    """Each path and method the shim documents answers 401 without a token, in its dialect."""
    shim = shims[namespace]
    with httpx.Client(base_url=shim.url, timeout=60) as api:
        schema = api.get("/openapi.json")
        assert schema.status_code == 200, schema.text
        routes = [
            (method, path)
            for path, operations in schema.json()["paths"].items()
            for method in operations
            if method in ("get", "post", "put", "patch", "delete")
        ]
        checked = 0
        for method, path in routes:
            if (method, path) in PUBLIC:
                continue
            url = path.replace("{engine}", namespace)
            for name, value in PATH_VALUES.items():
                url = url.replace(f"{{{name}}}", value)
            url = re.sub(r"\{[^}]+\}", "x", url)
            response = api.request(method.upper(), url)
            dialect_check = jbpm_refusal if path.startswith(jbpm.PREFIX) else camunda_refusal
            try:
                dialect_check(response, 401)
            except AssertionError as error:
                raise AssertionError(f"{method.upper()} {url}: {error}") from error
            checked += 1
    figures.record(DRILL, "routes refused without a token", checked)
    assert checked >= 10, routes
