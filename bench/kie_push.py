"""KIE push benchmark (issue 22): a jBPM REST deploy until DEPLOYED, against the server's own PUT.

    .venv/bin/python bench/kie_push.py [--kjars 20] [--warmup 3]

In one run, on one embedded control plane and one real KIE Server 7.74.1 (started here with
Java 17), with --kjars distinct kjars of one waiting process each published to one Maven
repository that both the server and the operator read:
  (a) the server's own time: PUT /rest/server/containers/{id} of each of --kjars kjars, one at a
      time, by the engines gateway's client (no operator);
  (b) the REST path: POST /deployment/{id}/deploy of each of --kjars other kjars through the
      shim's jBPM dialect, one at a time, until GET /deployment/{id} answers DEPLOYED (the
      queue's batching, the operator's resolution of the kjar, its snapshot, the container's
      PUT, the definitions' read-back and the status write included).
Both parts first deploy --warmup kjars of their own, untimed (the JIT compiler would otherwise
slow whichever part comes first). Prints the p50 of each and their difference (target: (b) at
most 1 s more than (a) at p50), and the server's RSS. Figures only; nothing is asserted.
"""

import argparse
import asyncio
import base64
import json
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import client, describe, install_crds, percentile, rss_mib
from bench.jbpm_rest import MavenServer
from deployunits.content.maven import MavenCoordinates
from deployunits.engines import BasicAuth, KieServerClient, KieServerConnection
from deployunits.engines.kie_wire import ReleaseId
from deployunits.k8s.raw import KubeClient, core_path, custom_path
from deployunits.reconcile import kie
from devcluster import binaries, engine
from devcluster.kjars import build_kjar, jbpm_waiting_bpmn, publish
from devcluster.plane import ControlPlane
from devcluster.processes import OperatorProcess, ShimProcess

NAMESPACE = "kie-bench"
GROUP = "org.acme.bench"
PREFIX = "/business-central/rest"


def coordinates(part: str, index: int) -> MavenCoordinates:
    return MavenCoordinates(GROUP, f"{part}-{index}", "1.0.0")


def publish_kjars(root: Path, part: str, count: int) -> list[MavenCoordinates]:
    made = []
    for index in range(count):
        coords = coordinates(part, index)
        key = f"{part}_{index}"
        jar = build_kjar(
            {f"org/acme/{key}.bpmn2": jbpm_waiting_bpmn(key, {"reason": "String"})},
            group_id=coords.group_id,
            artifact_id=coords.artifact_id,
            version=coords.version,
        )
        publish(root, coords, jar)
        made.append(coords)
    return made


async def add_engine(kube: KubeClient, server: engine.KieServerProcess) -> None:
    assert server.credentials is not None
    await kube.create(core_path("namespaces"), {"metadata": {"name": NAMESPACE}})
    data = {
        "username": base64.b64encode(server.credentials.username.encode()).decode(),
        "password": base64.b64encode(server.credentials.password.encode()).decode(),
    }
    await kube.create(
        core_path("secrets", NAMESPACE), {"metadata": {"name": "kie-auth"}, "data": data}
    )
    await kube.create(
        custom_path("processengines", NAMESPACE),
        {
            "apiVersion": "bpm.deployunits.io/v1alpha1",
            "kind": "ProcessEngine",
            "metadata": {
                "name": "kie",
                "annotations": {"bpm.deployunits.io/default-engine": "true"},
            },
            "spec": {
                "kieServer": {"url": server.url, "authSecretRef": {"name": "kie-auth"}},
                "deletePolicy": "Cascade",
            },
        },
    )
    async with asyncio.timeout(120):
        while True:
            found = await kube.get(custom_path("processengines", NAMESPACE, "kie"))
            conditions = (found.get("status") or {}).get("conditions") or []
            if any(c["type"] == "Ready" and c["status"] == "True" for c in conditions):
                return
            await asyncio.sleep(0.5)


async def direct_puts(
    server: engine.KieServerProcess, kjars: list[MavenCoordinates]
) -> list[float]:
    """(a): each kjar's PUT /containers/{id}, one at a time."""
    assert server.credentials is not None
    connection = KieServerConnection(
        url=server.url,
        credentials=BasicAuth(
            username=server.credentials.username, password=server.credentials.password
        ),
    )
    times = []
    async with KieServerClient(connection) as gateway:
        for coords in kjars:
            deployment_id = f"{coords.group_id}:{coords.artifact_id}:{coords.version}"
            release = ReleaseId(
                group_id=coords.group_id, artifact_id=coords.artifact_id, version=coords.version
            )
            start = time.perf_counter()
            await gateway.create_container(
                kie.container_id(deployment_id), release, (("RuntimeStrategy", "SINGLETON"),)
            )
            times.append(time.perf_counter() - start)
    return times


async def rest_deploys(shim: ShimProcess, kjars: list[MavenCoordinates]) -> list[float]:
    """(b): each kjar's REST deploy until DEPLOYED, one at a time (polled every 20 ms)."""
    times = []
    accept = {"Accept": "application/json"}
    async with httpx.AsyncClient(base_url=shim.url + PREFIX, timeout=120) as api:
        for coords in kjars:
            deployment_id = f"{coords.group_id}:{coords.artifact_id}:{coords.version}"
            start = time.perf_counter()
            answer = await api.post(f"/deployment/{deployment_id}/deploy", headers=accept)
            if answer.status_code != 202:
                raise RuntimeError(f"deploy of {deployment_id}: {answer.status_code} {answer.text}")
            async with asyncio.timeout(120):
                while True:
                    found = await api.get(f"/deployment/{deployment_id}", headers=accept)
                    status = found.json().get("status") if found.status_code == 200 else None
                    if status == "DEPLOYED":
                        break
                    if status == "DEPLOY_FAILED":
                        raise RuntimeError(f"{deployment_id} failed to deploy")
                    await asyncio.sleep(0.02)
            times.append(time.perf_counter() - start)
    return times


async def run(args: argparse.Namespace, plane: ControlPlane, scratch: Path) -> dict[str, Any]:
    repo = MavenServer(scratch / "maven")
    parts = {
        name: publish_kjars(repo.root, name, count)
        for name, count in (
            ("warm-direct", args.warmup),
            ("warm-rest", args.warmup),
            ("direct", args.kjars),
            ("rest", args.kjars),
        )
    }
    credentials = engine.BasicCredentials("bench", secrets.token_urlsafe(18))
    server = engine.KieServerProcess(
        engine.ensure_built(engine.KIE_MODULE),
        scratch / "kie-server.log",
        credentials=credentials,
        repository_url=repo.url,
    )
    operator = OperatorProcess(
        plane.kubeconfig,
        scratch / "operator.log",
        env={"DEPLOYUNITS_NAMESPACES": json.dumps([NAMESPACE]), "DEPLOYUNITS_LOG_LEVEL": "WARNING"},
    )
    shim = ShimProcess(
        plane.kubeconfig,
        scratch / "shim.log",
        namespace=NAMESPACE,
        env={
            "DEPLOYUNITS_MAVEN_REPOSITORY": repo.url,
            "DEPLOYUNITS_NAMESPACES": json.dumps([NAMESPACE]),
            "DEPLOYUNITS_LOG_LEVEL": "WARNING",
        },
    )
    kube = client(plane.kubeconfig)
    results: dict[str, Any] = {"kjars": args.kjars, "warmup": args.warmup}
    try:
        server.start()
        results["server_start_seconds"] = round(server.started_in or 0.0, 1)
        operator.start()
        shim.start()
        await add_engine(kube, server)
        await direct_puts(server, parts["warm-direct"])
        await rest_deploys(shim, parts["warm-rest"])
        direct = await direct_puts(server, parts["direct"])
        rest = await rest_deploys(shim, parts["rest"])
        results["direct_put"] = describe(direct)
        results["rest_to_deployed"] = describe(rest)
        results["direct_p50_s"] = round(percentile(direct, 0.5), 3)
        results["rest_p50_s"] = round(percentile(rest, 0.5), 3)
        results["difference_p50_s"] = round(results["rest_p50_s"] - results["direct_p50_s"], 3)
        assert server.pid is not None
        results["server_rss_mib"] = round(rss_mib(server.pid))
    finally:
        await kube.aclose()
        shim.stop()
        operator.stop()
        server.stop()
        repo.stop()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--kjars", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--logs", type=Path, help="keep the processes' logs here")
    args = parser.parse_args()
    with ControlPlane(binaries.ensure_built()) as plane, tempfile.TemporaryDirectory() as scratch:
        install_crds(plane)
        workdir = Path(scratch)
        if args.logs is not None:
            args.logs.mkdir(parents=True, exist_ok=True)
            workdir = args.logs
        results = asyncio.run(run(args, plane, workdir))
    print(json.dumps(results, indent=2))
    print(
        f"\n{args.kjars} kjars, one at a time: the server's PUT /containers p50 "
        f"{results['direct_p50_s']:.3f} s; REST deploy to DEPLOYED p50 {results['rest_p50_s']:.3f}"
        f" s; difference {results['difference_p50_s']:.3f} s (target <= 1 s)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
