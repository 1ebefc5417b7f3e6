-- Argo CD health of bpm.deployunits.io DeploymentUnit and Redeploy objects.
--
-- Argo CD runs this with the object in the global `obj` and without Lua's string, io and os
-- libraries, so it uses only base functions. Install it with argocd-cm-patch.yaml.
--
--   being deleted                              -> Progressing
--   status.observedGeneration ~= generation    -> Progressing (the operator has not acted yet)
--   Stalled=True                               -> Degraded (a failed job; retrying will not help)
--   Reconciling=True                           -> Progressing (a job is running)
--   Ready=True (DeploymentUnit)                -> Healthy (deployed or undeployed, as desired)
--   Succeeded=True (Redeploy)                  -> Healthy (the new deployment was created)
--   anything else                              -> Progressing

local function condition(conditions, wanted)
  if type(conditions) ~= "table" then
    return nil
  end
  for _, found in ipairs(conditions) do
    if type(found) == "table" and found.type == wanted then
      return found
    end
  end
  return nil
end

local function describe(found, fallback)
  if found == nil then
    return fallback
  end
  if found.message ~= nil and found.message ~= "" then
    return found.message
  end
  if found.reason ~= nil and found.reason ~= "" then
    return found.reason
  end
  return fallback
end

local metadata = obj.metadata or {}
if metadata.deletionTimestamp ~= nil then
  return { status = "Progressing", message = "Being deleted" }
end

local status = obj.status
if type(status) ~= "table" then
  return { status = "Progressing", message = "Waiting for the operator to observe the object" }
end

local generation = metadata.generation
if generation ~= nil and status.observedGeneration ~= generation then
  return {
    status = "Progressing",
    message = "Waiting for the operator to observe generation " .. tostring(generation),
  }
end

local conditions = status.conditions

local stalled = condition(conditions, "Stalled")
if stalled ~= nil and stalled.status == "True" then
  return { status = "Degraded", message = describe(stalled, "Stalled") }
end

local reconciling = condition(conditions, "Reconciling")
if reconciling ~= nil and reconciling.status == "True" then
  return { status = "Progressing", message = describe(reconciling, "Reconciling") }
end

local goal = "Ready"
if obj.kind == "Redeploy" then
  goal = "Succeeded"
end
local reached = condition(conditions, goal)
if reached ~= nil and reached.status == "True" then
  return { status = "Healthy", message = describe(reached, goal) }
end

return { status = "Progressing", message = describe(reached, "Waiting for " .. goal) }
