-- The client both embed scripts send through (loaded by them with dofile): the sandbox server
-- speaking SENS when ALIMTALK_SANDBOX_DIR names its run folder (`alimtalk sandbox start
-- --run-dir DIR`), else the embedded sandbox. Templates: examples/templates.json.
local alimtalk = require "alimtalk"

local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
local templates = here .. "/../templates.json"

return function(extra)
  local opts = { templates = templates }
  local dir = os.getenv("ALIMTALK_SANDBOX_DIR")
  if dir and dir ~= "" then
    local s = assert(require("alimtalk.sandbox.server").attach(dir))
    opts.provider, opts.sens = "sens", s:client_options("sens", { timeout = 10 })
  else
    opts.sandbox = { outbox = os.getenv("ALIMTALK_OUTBOX") or false }   -- no outbox file by default
  end
  for k, v in pairs(extra or {}) do opts[k] = v end
  return assert(alimtalk.new(opts))
end
