"""Both processes serve Prometheus metrics that move as work is done; the operator its liveness."""

import json
import urllib.request
from pathlib import Path

import httpx

from devcluster.processes import OperatorProcess, ShimProcess, wait_for
from tests.support.cluster import Cluster
from tests.support.metrics import scrape
from tests.support.models import bpmn
from tests.support.units import deployment_unit


def test_healthz_reports_the_api_server(operator: OperatorProcess) -> None:
    url = f"http://127.0.0.1:{operator.probe_port}/healthz"
    with urllib.request.urlopen(url, timeout=5) as response:
        body = json.loads(response.read())
    assert body["ok"] is True
    assert body["api"].startswith("v1.")


def test_metrics_count_reconciles_and_units_by_state(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    before = scrape(operator)
    assert "deployunits_jobs_pending" in before
    assert 'deployunits_units{status="DEPLOYED"}' in before
    cluster.apply_objects(namespace, deployment_unit("counted", inline={"c.bpmn": bpmn("counted")}))
    cluster.kubectl("wait", "--for=condition=Ready", "--timeout=60s", "du/counted", "-n", namespace)
    key = 'deployunits_reconciles_total{kind="DeploymentUnit",result="ok"}'

    def moved() -> bool:
        after = scrape(operator)
        deployed = 'deployunits_units{status="DEPLOYED"}'
        return after.get(key, 0) > before.get(key, 0) and after[deployed] > before[deployed]

    wait_for(moved, 15, "reconcile and state metrics to move")
    after = scrape(operator)
    assert after['deployunits_reconcile_duration_seconds_count{kind="DeploymentUnit"}'] > 0


def test_shim_metrics_have_routes_methods_statuses_and_latencies(
    cluster: Cluster, operator: OperatorProcess, namespace: str, tmp_path: Path
) -> None:
    shim = ShimProcess(cluster.kubeconfig, tmp_path / "shim.log")
    shim.start()
    try:
        with httpx.Client(base_url=shim.url, timeout=30) as client:
            before = client.get("/metrics").text
            assert (
                client.get(f"/engine-rest/engine/{namespace}/deployment/count").status_code == 200
            )
            assert client.get(f"/engine-rest/engine/{namespace}/deployment/nope").status_code == 404
            after = client.get("/metrics").text
    finally:
        shim.stop()
    count_route = "/engine-rest/engine/{engine}/deployment/count"
    assert count_route not in before
    counted = [
        line for line in after.splitlines() if line.startswith("deployunits_shim_requests_total{")
    ]
    assert any(
        count_route in line and 'method="GET"' in line and 'status="200"' in line
        for line in counted
    )
    assert any('status="404"' in line and "{id}" in line for line in counted), counted
    assert "deployunits_shim_request_duration_seconds_bucket{" in after
    assert f"/deployment/{namespace}" not in after, "paths with ids must not become label values"
