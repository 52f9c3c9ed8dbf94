--- Command dispatch for bin/alimtalk.
-- `alimtalk <command> ...` loads `alimtalk.cli.<command>` and calls its `main(args)`, which
-- returns the process exit code. Exit codes: 0 success, 1 the work failed (some message
-- rejected or not sent), 2 bad arguments or configuration, 3 uncertain outcomes remain.
-- @module alimtalk.cli
local _M = {}

_M.commands = {
  { "send", "send one message" },
  { "bulk", "run, resume or inspect a bulk campaign" },
  { "render", "render a template with variables" },
  { "validate", "check messages against a provider's rules without sending" },
  { "templates", "list templates, or fetch them from a provider" },
  { "status", "query delivery results by id" },
  { "worker", "drain a send queue in Redis (alimtalk.queue)" },
  { "sandbox", "start, stop or inspect the local sandbox server" },
  { "webhook", "verify a captured webhook payload" },
}

local function usage(out)
  out:write("usage: alimtalk <command> [options]\n\ncommands:\n")
  for _, c in ipairs(_M.commands) do out:write(string.format("  %-10s %s\n", c[1], c[2])) end
  out:write("\nRun 'alimtalk <command> --help' for a command's options.\n")
end

--- Run the command line.
-- @tparam table args the arguments after the program name
-- @treturn integer the exit code
function _M.main(args)
  local name = args[1]
  if name == nil or name == "--help" or name == "-h" or name == "help" then
    usage(name and io.stdout or io.stderr)
    return name and 0 or 2
  end
  local known = false
  for _, c in ipairs(_M.commands) do if c[1] == name then known = true end end
  if not known then
    io.stderr:write("alimtalk: unknown command '" .. tostring(name) .. "' (try --help)\n")
    return 2
  end
  local ok, mod = pcall(require, "alimtalk.cli." .. name)
  if not ok then
    io.stderr:write("alimtalk: command '" .. name .. "' is not available: " .. tostring(mod) .. "\n")
    return 2
  end
  local rest = {}
  for i = 2, #args do rest[#rest + 1] = args[i] end
  return mod.main(rest)
end

return _M
