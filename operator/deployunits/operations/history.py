"""The deployments duplicate filtering compares with: the watch-fed index, ahead by own writes."""

import asyncio
import time
from collections.abc import Iterable, Mapping

from deployunits.models.deploymentunit import DeploymentUnitSpec, DeploymentUnitStatus
from deployunits.reconcile import deploymentunit as decide

HistoryKey = tuple[str, str, str, str]  # (namespace, name, source, tenant)
#: Camunda compares deployments without a source as if it were this one.
DEFAULT_SOURCE = "process application"
#: Seconds after which the watch-fed index has certainly seen a status this process wrote.
_INDEX_LAG = 300.0


def history_key(namespace: str, spec: DeploymentUnitSpec) -> HistoryKey:
    """What Camunda's duplicate filtering compares deployments by."""
    return (namespace, spec.name or "", spec.source or DEFAULT_SOURCE, spec.tenant_id or "")


class DuplicateHistory:
    """Deployed units by history key, as the index has them and as this process wrote them."""

    def __init__(self) -> None:
        self._index: Mapping[HistoryKey, Iterable[decide.PreviousDeployment]] | None = None
        #: Held while a unit with duplicate filtering decides and writes: two uploads of one
        #: name deciding at once would otherwise both find nothing to filter and both deploy.
        self._locks: dict[HistoryKey, asyncio.Lock] = {}
        #: What this process last wrote per unit (None: not a filtering candidate) and when,
        #: ahead of the watch-fed index, which lags behind the writes by seconds at most.
        self._written: dict[
            HistoryKey, dict[str, tuple[float, decide.PreviousDeployment | None]]
        ] = {}

    def bind(self, index: Mapping[HistoryKey, Iterable[decide.PreviousDeployment]]) -> None:
        """kopf's watch-fed index (a live view; populated before any handler runs)."""
        self._index = index

    def history(self, key: HistoryKey) -> list[decide.PreviousDeployment]:
        """Deployed units with this (namespace, name, source, tenant).

        The index as the watch delivered it, corrected by the statuses this process wrote since.
        """
        index = self._index
        indexed = (index.get(key) or ()) if index is not None else ()
        found = {d.deployment_id: d for d in indexed}
        for deployment_id, (_, written) in self._written.get(key, {}).items():
            if written is None:
                found.pop(deployment_id, None)
            else:
                found[deployment_id] = written
        return list(found.values())

    def history_lock(self, key: HistoryKey) -> asyncio.Lock:
        return self._locks.setdefault(key, asyncio.Lock())

    def wrote_status(
        self, namespace: str, spec: DeploymentUnitSpec, status: DeploymentUnitStatus
    ) -> None:
        """Remember a status write for duplicate filtering until the index has long caught up."""
        deployment_id = spec.deployment_id
        entries = self._written.setdefault(history_key(namespace, spec), {})
        written_at = time.monotonic()
        # Entries stay in the order they were written (a rewrite moves to the end), so the ones
        # the index has certainly caught up with are at the front: bounded memory in a burst of
        # thousands of units sharing one key (every unnamed unit), at constant cost per write.
        entries.pop(deployment_id, None)
        while entries:
            oldest = next(iter(entries))
            if written_at - entries[oldest][0] <= _INDEX_LAG:
                break
            del entries[oldest]
        previous = (
            decide.previous_deployment(
                deployment_id,
                status.deployment_time,
                ((r.name, r.sha256) for r in status.resources),
            )
            if decide.counts_as_previous(status.status, status.duplicate_of)
            else None
        )
        entries[deployment_id] = (written_at, previous)

    def forget_status(self, namespace: str, spec: DeploymentUnitSpec) -> None:
        key = history_key(namespace, spec)
        entries = self._written.get(key)
        if entries is not None:
            entries.pop(spec.deployment_id, None)
            if not entries:
                del self._written[key]
