"""The raw API client, for tools outside the product only: tests, benchmarks, drills.

The operator and the shim reach the API server through the stores of `gateway.ApiServer`; the
import contract in pyproject.toml keeps every other package of deployunits from this module.
"""

from deployunits.k8s._transport import KubeClient, core_path, custom_path
from deployunits.k8s.errors import JSON

__all__ = ["JSON", "KubeClient", "core_path", "custom_path"]
