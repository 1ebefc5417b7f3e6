"""What GitOps tools make of an object's status: Argo CD's Lua check, kstatus and Flux's CEL.

- `argocd_health` runs `manifests/argocd/health.lua` in a real Lua 5.1 runtime (lupa; Argo CD
  embeds gopher-lua, a Lua 5.1) with only the libraries Argo CD opens when
  `resource.customizations.useOpenLibs` is off: base functions and `table`, no `string`, `io`
  or `os`. The object is converted the way Argo CD converts it (maps to tables, lists to
  1-based arrays, numbers to Lua numbers).
- `kstatus` computes the cli-utils status (`pkg/kstatus/status`, `Compute`) of a custom
  resource: the generic rules, then the Ready condition, then Current.
- `flux_health` evaluates the `healthCheckExprs` of `manifests/flux/bpm-units.yaml` as Flux's
  status evaluator does (fluxcd/pkg `runtime/cel`), with a real CEL interpreter.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import cel
import yaml
from lupa import lua51

REPO = Path(__file__).resolve().parents[2]
HEALTH_LUA = REPO / "manifests" / "argocd" / "health.lua"
FLUX_KUSTOMIZATION = REPO / "manifests" / "flux" / "bpm-units.yaml"

#: The statuses a health.lua may return (gitops-engine pkg/health).
ARGOCD_STATUSES = frozenset(
    {"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"}
)

# Loads a chunk and runs it with a global table that holds `obj` and only the base functions
# and the table library, as Argo CD does without useOpenLibs.
_SANDBOX = """
function(script, object)
  local env = {
    assert = assert, error = error, ipairs = ipairs, next = next, pairs = pairs,
    pcall = pcall, rawequal = rawequal, rawget = rawget, rawset = rawset, select = select,
    tonumber = tonumber, tostring = tostring, type = type, unpack = unpack, xpcall = xpcall,
    _VERSION = _VERSION, table = table, obj = object,
  }
  env._G = env
  -- Without the string library gopher-lua gives strings no methods either.
  local strings = getmetatable("")
  if strings ~= nil then
    strings.__index = nil
  end
  local chunk, problem = loadstring(script, "=health.lua")
  if chunk == nil then
    error(problem)
  end
  setfenv(chunk, env)
  return chunk()
end
"""


@dataclass(frozen=True)
class Health:
    """An Argo CD health assessment."""

    status: str
    message: str


def _to_lua(runtime: Any, value: Any) -> Any:
    if isinstance(value, dict):
        return runtime.table_from({key: _to_lua(runtime, item) for key, item in value.items()})
    if isinstance(value, list):
        return runtime.table_from([_to_lua(runtime, item) for item in value])
    return value


def argocd_health(obj: dict[str, Any], script: str | None = None) -> Health:
    """What Argo CD shows for the object, by running the Lua health check."""
    runtime = lua51.LuaRuntime(unpack_returned_tuples=False, register_eval=False)
    run = runtime.eval(_SANDBOX)
    text = script if script is not None else HEALTH_LUA.read_text()
    result = run(text, _to_lua(runtime, obj))
    if result is None:
        raise AssertionError("health.lua returned nothing")
    status, message = result["status"], result["message"]
    if status not in ARGOCD_STATUSES:
        raise AssertionError(f"health.lua returned an unknown status {status!r}")
    return Health(str(status), "" if message is None else str(message))


class KStatus(StrEnum):
    """kstatus results (cli-utils pkg/kstatus/status)."""

    IN_PROGRESS = "InProgress"
    FAILED = "Failed"
    CURRENT = "Current"
    TERMINATING = "Terminating"


def kstatus(obj: dict[str, Any]) -> tuple[KStatus, str]:
    """The kstatus of a custom resource (no built-in kind rules apply to ours)."""
    metadata = obj.get("metadata") or {}
    status = obj.get("status") or {}
    # 1. Being deleted.
    if metadata.get("deletionTimestamp"):
        return KStatus.TERMINATING, "Resource scheduled for deletion"
    # 2. Only the top-level observedGeneration is read, and only when both fields exist.
    generation = metadata.get("generation")
    observed = status.get("observedGeneration")
    if generation is not None and observed is not None and observed != generation:
        return (
            KStatus.IN_PROGRESS,
            f"{obj.get('kind')} generation is {generation}, "
            f"but latest observed generation is {observed}",
        )
    conditions = [c for c in status.get("conditions") or [] if isinstance(c, dict)]
    # 3 and 4, in the order the conditions are listed: Reconciling=True, Stalled=True.
    for found in conditions:
        if found.get("type") == "Reconciling" and found.get("status") == "True":
            return KStatus.IN_PROGRESS, str(found.get("message", ""))
        if found.get("type") == "Stalled" and found.get("status") == "True":
            return KStatus.FAILED, str(found.get("message", ""))
    # 5. Built-in kinds have their own rules; ours are not among them.
    # 6. The Ready condition decides when present.
    for found in conditions:
        if found.get("type") == "Ready":
            if found.get("status") == "True":
                return KStatus.CURRENT, str(found.get("message", ""))
            return KStatus.IN_PROGRESS, str(found.get("message", ""))
    # 7. Nothing known: current.
    return KStatus.CURRENT, "Resource is current"


@functools.cache
def flux_expressions() -> dict[str, dict[str, str]]:
    """Kind → its healthCheckExprs entry, from the Flux example."""
    document = yaml.safe_load(FLUX_KUSTOMIZATION.read_text())
    return {entry["kind"]: entry for entry in document["spec"]["healthCheckExprs"]}


class FluxError(Exception):
    """A CEL expression failed to evaluate; Flux reports the object's status as Unknown."""


def flux_health(obj: dict[str, Any]) -> KStatus:
    """What Flux's CEL status evaluator makes of the object (RFC-0009 order)."""
    entry = flux_expressions()[obj["kind"]]
    metadata = obj.get("metadata") or {}
    status = obj.get("status") or {}
    observed = status.get("observedGeneration")
    generation = metadata.get("generation")
    if observed is not None and generation is not None and observed != generation:
        return KStatus.IN_PROGRESS
    # Flux binds every top-level field of the object as a CEL variable.
    for key, result in (
        ("inProgress", KStatus.IN_PROGRESS),
        ("failed", KStatus.FAILED),
        ("current", KStatus.CURRENT),
    ):
        expression = entry.get(key)
        if not expression:
            continue
        try:
            value = cel.evaluate(expression, dict(obj))
        except Exception as error:  # the interpreter raises plain RuntimeError/ValueError
            raise FluxError(f"{key}: {error}") from error
        if not isinstance(value, bool):
            raise FluxError(f"{key} is not a boolean expression: {value!r}")
        if value:
            return result
    return KStatus.IN_PROGRESS
