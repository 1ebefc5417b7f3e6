"""What handlers share for the life of the operator, kept in kopf's memo (no module globals)."""

from dataclasses import dataclass

import kopf

from deployunits.k8s.gateway import ApiServer
from deployunits.memory import IdleTrimmer
from deployunits.metrics import OperatorMetrics
from deployunits.operations.engines import EnginesContext
from deployunits.operations.redeploys import RedeploysContext
from deployunits.operations.units import UnitsContext
from deployunits.probes import ProbeServer
from deployunits.settings import OperatorSettings


@dataclass
class OperatorContext:
    """The operator's settings, its API client and the per-kind working state."""

    settings: OperatorSettings
    kube: ApiServer
    units: UnitsContext
    redeploys: RedeploysContext
    engines: EnginesContext
    metrics: OperatorMetrics
    probes: ProbeServer
    trimmer: IdleTrimmer


def of(memo: kopf.Memo) -> OperatorContext:
    """The context put into the memo at start-up."""
    context = memo.get("context")
    if not isinstance(context, OperatorContext):
        raise RuntimeError("the operator context is missing; was the startup handler run?")
    return context
