"""The operator's probe port serves liveness and Prometheus metrics that move as work is done."""

import json
import re
import urllib.request

from tests.support.cluster import Cluster, OperatorProcess, wait_for
from tests.support.models import bpmn


def scrape(operator: OperatorProcess) -> dict[str, float]:
    url = f"http://127.0.0.1:{operator.probe_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    samples: dict[str, float] = {}
    for line in text.splitlines():
        match = re.match(r"^([a-zA-Z_:][\w:]*(?:\{[^}]*\})?) ([0-9.eE+-]+)$", line)
        if match:
            samples[match.group(1)] = float(match.group(2))
    return samples


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
    cluster.apply(
        f"""
apiVersion: bpm.deployunits.io/v1alpha1
kind: DeploymentUnit
metadata: {{name: counted}}
spec:
  deploymentId: counted-1
  resources: {{inline: [{{name: c.bpmn, content: {json.dumps(bpmn("counted"))}}}]}}
""",
        namespace,
    )
    cluster.kubectl("wait", "--for=condition=Ready", "--timeout=60s", "du/counted", "-n", namespace)
    key = 'deployunits_reconciles_total{kind="DeploymentUnit",result="ok"}'

    def moved() -> bool:
        after = scrape(operator)
        deployed = 'deployunits_units{status="DEPLOYED"}'
        return after.get(key, 0) > before.get(key, 0) and after[deployed] > before[deployed]

    wait_for(moved, 15, "reconcile and state metrics to move")
    after = scrape(operator)
    assert after['deployunits_reconcile_duration_seconds_count{kind="DeploymentUnit"}'] > 0
