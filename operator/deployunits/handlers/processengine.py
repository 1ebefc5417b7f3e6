"""kopf handlers of ProcessEngine: an index of engines by namespace, and resyncs on change."""

from typing import Any

import kopf

from deployunits import constants
from deployunits.handlers import context
from deployunits.reconcile.engine import EngineCandidate

_RESOURCE = (constants.GROUP, constants.VERSION, constants.PROCESS_ENGINE_PLURAL)


@kopf.index(*_RESOURCE)
async def engine_index(
    namespace: str | None, name: str | None, meta: kopf.Meta, **_: Any
) -> dict[tuple[str], EngineCandidate]:
    """namespace → the ProcessEngines in it, and which of them is a default engine."""
    default = str((meta.get("annotations") or {}).get(constants.DEFAULT_ENGINE_ANNOTATION, ""))
    return {
        (str(namespace),): EngineCandidate(
            str(name),
            default.strip().lower() == "true",
            deleting=bool(meta.get("deletionTimestamp")),
        )
    }


@kopf.on.event(*_RESOURCE)
async def on_engine_event(
    type: str, namespace: str | None, name: str | None, memo: kopf.Memo, **kwargs: Any
) -> None:
    """A ProcessEngine appeared, changed or went: look at the engine again soon."""
    engines = context.of(memo).engines
    engines.bind_indexes(kwargs["engine_index"])
    ref = (str(namespace), str(name))
    if type == "DELETED":
        engines.forget(ref)
    else:
        engines.resync_soon(ref)
