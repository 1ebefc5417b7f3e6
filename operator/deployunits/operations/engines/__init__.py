"""Units meet their process engines: push, look-up, undeploy, ProcessEngine status and resync.

The decisions are pure in reconcile/engine.py; this package does the I/O around them (engines
gateway, API server stores), one module per seam: the context (clients, indexes, the resync
loop), binding, push (and the look-up of an unrecorded push), undeploy, the ProcessEngine's
resync (status, drift, units brought along) and adoption. A unit pass (operations/units.py)
calls in at three places: after its snapshots are stored (`push`), when it undeploys
(`withdraw`), and when it is deleted.
"""

import functools

from deployunits.operations.engines.binding import binding
from deployunits.operations.engines.context import EnginesContext, Ref
from deployunits.operations.engines.push import PushOutcome, push
from deployunits.operations.engines.resync import UnitAction, reconcile_engine, resync_unit
from deployunits.operations.engines.undeploy import WithdrawOutcome, withdraw

__all__ = [
    "EnginesContext",
    "PushOutcome",
    "Ref",
    "UnitAction",
    "WithdrawOutcome",
    "binding",
    "push",
    "resync_unit",
    "start",
    "withdraw",
]


def start(ctx: EnginesContext, *, sync_unit: UnitAction, retry_unit: UnitAction) -> None:
    """Start the engines' resync loop (stopped by ctx.close())."""
    ctx.start(functools.partial(reconcile_engine, ctx, sync_unit=sync_unit, retry_unit=retry_unit))
