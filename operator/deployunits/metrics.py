"""Prometheus metrics of the operator: reconciles, durations, errors, jobs by state, queue depth."""

from collections.abc import Callable, Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from deployunits.models.deploymentunit import DeploymentStatus


class OperatorMetrics:
    """One registry per process (no module globals), passed to whatever records."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.reconciles = Counter(
            "deployunits_reconciles_total",
            "Reconcile passes by kind and result (ok, retry, error).",
            ["kind", "result"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "deployunits_reconcile_duration_seconds",
            "Duration of reconcile passes that did work.",
            ["kind"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )
        self.errors = Counter(
            "deployunits_reconcile_errors_total",
            "Reconcile passes that failed with an unexpected error.",
            ["kind"],
            registry=self.registry,
        )

        self.engine_calls = Counter(
            "deployunits_engine_calls_total",
            "Calls to process engines by what they were for (create, lookup, delete, ...).",
            ["call"],
            registry=self.registry,
        )

    def watch_units(
        self, states: Callable[[], Mapping[tuple[str, ...], Iterable[object]] | None]
    ) -> None:
        """Report jobs by state and the queue depth from the operator's unit index."""
        self.registry.register(_UnitStates(states))


class _UnitStates(Collector):
    def __init__(
        self, states: Callable[[], Mapping[tuple[str, ...], Iterable[object]] | None]
    ) -> None:
        self._states = states

    def collect(self) -> Iterable[GaugeMetricFamily]:
        index = self._states() or {}
        jobs = GaugeMetricFamily(
            "deployunits_units", "DeploymentUnits by deployment status.", labels=["status"]
        )
        for state in [*DeploymentStatus, "NONE"]:
            value = state.value if isinstance(state, DeploymentStatus) else state
            jobs.add_metric([value], len(list(index.get(("status", value)) or ())))
        yield jobs
        pending = GaugeMetricFamily(
            "deployunits_jobs_pending",
            "Jobs submitted but not finished: units whose generation is not yet observed or "
            "whose job is still running (the job queue depth).",
        )
        pending.add_metric([], len(list(index.get(("pending",)) or ())))
        yield pending
