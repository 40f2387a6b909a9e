-- Argo CD health check for the journey.cjm.dev kinds (TouchpointSource,
-- ValidationRule, JourneyMap, QuarantineReview), read from the kstatus
-- conditions the journey controller writes: Ready, Reconciling and Stalled.
-- The scripts differ only in the suspend block; after editing, run
-- `make argocd-cm`.
local function health(status, message)
  return {status = status, message = message}
end

local metadata = obj.metadata or {}
local status = obj.status or {}

local function findCondition(conditionType)
  for _, condition in ipairs(status.conditions or {}) do
    if condition.type == conditionType then
      return condition
    end
  end
  return nil
end

-- A condition's message, or its reason when the message is empty.
local function describe(condition)
  if condition.message ~= nil and condition.message ~= "" then
    return condition.message
  end
  return condition.reason or ""
end

-- Recent Argo CD runs custom checks on objects being deleted too (argo-cd#27595).
if metadata.deletionTimestamp ~= nil then
  if metadata.finalizers ~= nil and #metadata.finalizers > 0 then
    return health("Progressing", "Pending deletion; blocked by finalizers: " .. table.concat(metadata.finalizers, ", "))
  end
  return health("Progressing", "Pending deletion")
end

local reconciling = findCondition("Reconciling")
if reconciling ~= nil and reconciling.status ~= "True" then
  reconciling = nil
end

-- Until the controller has observed this generation, the conditions describe
-- an older spec (or nothing: status.observedGeneration defaults to -1).
local generation = metadata.generation
if generation ~= nil and status.observedGeneration ~= generation then
  local message = "Waiting for the controller to observe generation " .. generation
  if reconciling ~= nil and reconciling.observedGeneration == generation then
    message = message .. ": " .. describe(reconciling)
  end
  return health("Progressing", message)
end

local stalled = findCondition("Stalled")
if stalled ~= nil and stalled.status == "True" then
  return health("Degraded", describe(stalled))
end
if reconciling ~= nil then
  return health("Progressing", describe(reconciling))
end

local ready = findCondition("Ready")
if ready == nil then
  return health("Progressing", "Waiting for the controller to report the Ready condition")
end
if ready.status == "True" then
  return health("Healthy", describe(ready))
end
if ready.status == "False" then
  return health("Degraded", describe(ready))
end
return health("Progressing", describe(ready))
