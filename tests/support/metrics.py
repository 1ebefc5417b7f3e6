"""Reading a process's Prometheus metrics in tests."""

import re
import urllib.request

from devcluster.processes import OperatorProcess


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
