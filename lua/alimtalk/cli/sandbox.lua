--- `alimtalk sandbox start|stop|status|outbox`: run the local provider emulator
-- (docs/sandbox.md) as a background nginx whose state lives in a run folder.
-- @module alimtalk.cli.sandbox
local cjson = require("cjson").new()

local _M = {}

local USAGE = [[
usage: alimtalk sandbox <start|stop|status|outbox> [options]

  start    start the sandbox server in the background and print its URLs
  stop     stop it
  status   print its URLs, pid and message counts (exit 1 when not running)
  outbox   print what each handset received

options (each subcommand takes only its own, and --run-dir, --json, --help):
  --run-dir DIR            run folder (default .alimtalk-sandbox)
  --json                   print JSON (start: URLs and pid; stop; status; outbox: one
                           message per line)
start:
  --port N                 HTTP port, 1-65535 (default: a free one); --https-port N likewise
  --no-tls                 serve plain HTTP only
  --templates FILE         template registry JSON (default: the configuration's 'templates'
                           with -c, else examples/templates.json of the source tree when
                           present, the registry README and examples use; else none)
  -c, --config FILE        a client configuration whose 'templates' registry to load
  --delivery-delay S       seconds until accepted messages are delivered (default 0.05)
  --token-ttl S            bearer token lifetime (default 3600)
  --credentials FILE       JSON { provider = { field = value } } overriding the defaults
  --webhook-apiplex URL    where API PLEX result webhooks go
  --webhook-sinch URL      where Sinch delivery reports go
  --unreachable NUMBER     a number that is not a KakaoTalk user (repeatable)
  -v, --verbose            when nginx does not start, also print its own messages
outbox:
  --to NUMBER              only this recipient (any spelling: 010-..., +82 ...)
  -p, --provider NAME      only this provider (sens, bizmessage, apiplex, sinch)
  -h, --help               this text

Exit status: 0 done, 1 failed (not running, a busy port, nginx did not start), 2 bad
arguments.
]]

local VALUED = { ["--run-dir"] = "run_dir", ["--port"] = "port", ["--https-port"] = "https_port",
  ["--templates"] = "templates", ["--delivery-delay"] = "delivery_delay", ["--token-ttl"] = "token_ttl",
  ["--credentials"] = "credentials", ["--webhook-apiplex"] = "webhook_apiplex",
  ["--webhook-sinch"] = "webhook_sinch", ["--unreachable"] = "unreachable", ["--to"] = "to",
  ["--provider"] = "provider", ["-p"] = "provider", ["--config"] = "config", ["-c"] = "config" }
local FLAGS = { ["--no-tls"] = "no_tls", ["--json"] = "json", ["--help"] = "help", ["-h"] = "help",
  ["--verbose"] = "verbose", ["-v"] = "verbose" }
local NUMBERS = { port = true, https_port = true, delivery_delay = true, token_ttl = true }

-- The options each subcommand takes (beyond run_dir, json and help): any other is refused,
-- not ignored.
local TAKES = {
  start = { port = true, https_port = true, no_tls = true, templates = true, delivery_delay = true,
    token_ttl = true, credentials = true, webhook_apiplex = true, webhook_sinch = true,
    unreachable = true, verbose = true, config = true },
  stop = {}, status = {},
  outbox = { to = true, provider = true },
}

local function parse(args)
  local o = { unreachable = {} }
  local given = {} -- option name -> how it was spelled
  local i = 1
  while i <= #args do
    local a = args[i]
    local key, val = a:match("^(%-%-[%w%-]+)=(.*)$")
    key = key or a
    if VALUED[key] then
      if not val then i = i + 1 val = args[i] end
      if val == nil then return nil, key .. " needs a value" end
      local name = VALUED[key]
      if NUMBERS[name] then
        local n = tonumber(val)
        if not n or n < 0 then return nil, key .. " needs a number >= 0, got '" .. val .. "'" end
        if (name == "port" or name == "https_port") and (n % 1 ~= 0 or n > 65535) then
          return nil, key .. " must be a port number from 1 to 65535 (or 0: a free one), got '" .. val .. "'"
        end
        val = n
      end
      if name == "unreachable" then o.unreachable[#o.unreachable + 1] = val else o[name] = val end
      given[name] = key
    elseif FLAGS[a] then
      o[FLAGS[a]] = true
      given[FLAGS[a]] = a
    elseif a:sub(1, 1) == "-" then
      return nil, "unknown option '" .. a .. "'"
    elseif not o.command then
      o.command = a
    else
      return nil, "unexpected argument '" .. a .. "'"
    end
    i = i + 1
  end
  local takes = TAKES[o.command]
  if takes and not o.help then
    local names = {}
    for name in pairs(given) do names[#names + 1] = name end
    table.sort(names)
    for _, name in ipairs(names) do
      if name ~= "run_dir" and name ~= "json" and name ~= "help" and not takes[name] then
        return nil, given[name] .. " is not an option of 'sandbox " .. o.command .. "'"
          .. (name == "config" and " (only start reads a configuration: its template registry)" or "")
      end
    end
  end
  return o
end

local read_file = require("alimtalk.cli.common").read_file

-- One JSON line, URLs and paths without cjson's escaped slashes (as the other commands print).
local function json_line(v)
  return (cjson.encode(v):gsub("\\/", "/")) .. "\n"
end

-- The registry README and examples/ use: examples/templates.json of the source tree this
-- module runs from (bin/alimtalk in a checkout), when present.
local function default_templates()
  local src = debug.getinfo(1, "S").source
  local root = src:match("^@(.*)/lua/alimtalk/cli/sandbox%.lua$")
  if not root then
    root = src:match("^@lua/alimtalk/cli/sandbox%.lua$") and "."
  end
  if root then
    local path = root .. "/examples/templates.json"
    if read_file(path) then return path end
  end
  return nil
end

-- One line for a server that did not start: nginx's output (a dozen [emerg] lines for a busy
-- port) is kept for -v.
local function start_failure(err, o)
  if err:find("Address already in use", 1, true) then
    local port = err:match("bind%(%) to [^\n]-:(%d+) failed") or tostring(o.port or o.https_port or "")
    return "port " .. port .. " is already in use: give another --port/--https-port, or none for "
      .. "a free one"
  end
  local first = err:match("%[emerg%][^\n]-: ([^\n]+)") or err:match("^([^\n]*)")
  return "the server did not start: " .. first .. (o.verbose and "" or " (-v shows nginx's messages)")
end

local function start(o, server)
  local existing = server.attach(o.run_dir)
  if existing and existing:pid() then
    io.stderr:write("alimtalk sandbox: already running in " .. o.run_dir .. " ("
      .. existing.http_url .. ")\n")
    return 1
  end
  local opts = { run_dir = o.run_dir, port = o.port, https_port = o.https_port, tls = not o.no_tls,
    delivery_delay = o.delivery_delay, token_ttl = o.token_ttl }
  local templates = o.templates
  if not templates and o.config then
    -- the registry the client sends from is the natural set of "approved" templates
    local common = require "alimtalk.cli.common"
    local cfg, ce = common.load_config({ config = o.config })
    if not cfg then
      io.stderr:write("alimtalk sandbox: " .. common.redact(ce) .. "\n")
      return 2
    end
    templates = cfg.templates
    if not templates then
      io.stderr:write("alimtalk sandbox: configuration " .. o.config .. " names no 'templates' registry "
        .. "(give --templates FILE)\n")
      return 2
    end
  end
  templates = templates or default_templates()
  opts.templates = templates
  if o.credentials then
    local s = read_file(o.credentials)
    local ok, v = pcall(cjson.decode, s or "")
    if not s or not ok or type(v) ~= "table" then
      io.stderr:write("alimtalk sandbox: --credentials must name a JSON object file\n")
      return 2
    end
    opts.credentials = v
  end
  if o.webhook_apiplex or o.webhook_sinch then
    opts.webhooks = { apiplex = o.webhook_apiplex, sinch = o.webhook_sinch }
  end
  if #o.unreachable > 0 then opts.unreachable = o.unreachable end
  -- server.start raises on misuse (an unknown credentials key from the file, say): for a
  -- command line that is bad input, reported on one line with exit code 2.
  local ok, s, err = pcall(server.start, opts)
  if not ok then
    io.stderr:write("alimtalk sandbox: " .. (tostring(s):gsub("^[^:]*:%d+: ", "")) .. "\n")
    return 2
  end
  if not s then
    io.stderr:write("alimtalk sandbox: " .. start_failure(tostring(err), o) .. "\n")
    if o.verbose then
      io.stderr:write((tostring(err):gsub("^nginx did not start: ", ""):gsub("\n*$", "\n")))
    end
    return 1
  end
  if o.json then
    io.stdout:write(json_line({ running = true, pid = s:pid(), http_url = s.http_url,
      https_url = s.https_url, ca_file = s.ca_file, run_dir = s.run_dir, templates = templates }))
    return 0
  end
  io.stdout:write("sandbox running (pid " .. tostring(s:pid()) .. ")\n",
    "  http:  " .. s.http_url .. "\n")
  if s.https_url then io.stdout:write("  https: " .. s.https_url .. "  (CA: " .. s.ca_file .. ")\n") end
  io.stdout:write("  templates: " .. tostring(templates or
      "none (no examples/templates.json in the source tree; give --templates FILE)") .. "\n",
    "  run folder: " .. s.run_dir .. " (credentials in server.json; docs/sandbox.md)\n",
    "stop with: alimtalk sandbox stop --run-dir " .. o.run_dir .. "\n")
  return 0
end

-- An explicit --run-dir that does not exist is a bad argument (exit 2), not a stopped sandbox.
local function missing_run_dir(o)
  if o.run_dir_given and not os.rename(o.run_dir, o.run_dir) then
    io.stderr:write("alimtalk sandbox: --run-dir " .. o.run_dir .. ": no such folder\n")
    return true
  end
  return false
end

local function attached(o, server)
  local s = server.attach(o.run_dir)
  if not s or not s:pid() then
    io.stderr:write("alimtalk sandbox: not running in " .. o.run_dir .. "\n")
    return nil
  end
  return s
end

local function status(o, server)
  local s = attached(o, server)
  if not s then return 1 end
  local box = s:outbox() or {}
  local counts = {}
  for _, m in ipairs(box) do counts[m.status] = (counts[m.status] or 0) + 1 end
  if o.json then
    io.stdout:write(json_line({ running = true, pid = s:pid(), http_url = s.http_url,
      https_url = s.https_url, ca_file = s.ca_file, run_dir = s.run_dir, messages = #box,
      by_status = counts }))
    return 0
  end
  io.stdout:write("sandbox running (pid " .. s:pid() .. ")\n  http:  " .. s.http_url .. "\n")
  if s.https_url then io.stdout:write("  https: " .. s.https_url .. "  (CA: " .. s.ca_file .. ")\n") end
  local parts = {}
  for k, v in pairs(counts) do parts[#parts + 1] = k .. " " .. v end
  table.sort(parts)
  io.stdout:write("  messages: " .. #box .. (#parts > 0 and (" (" .. table.concat(parts, ", ") .. ")") or "")
    .. "\n")
  return 0
end

local OUTBOX_PROVIDERS = { sens = true, bizmessage = true, apiplex = true, sinch = true }

-- The national digits of a number in any stored or typed form (010-2000-0002, 01020000002,
-- +821020000002, 821020000002), or the digits as given when it is not a mobile number.
local function national(n)
  if type(n) ~= "string" then return nil end
  local p = require("alimtalk.phone").parse(n)
  if p then return p.national end
  local d = n:gsub("%D", "")
  if d:sub(1, 2) == "82" and #d >= 11 then d = "0" .. d:sub(3) end
  return d
end

local function outbox(o, server)
  if o.provider and not OUTBOX_PROVIDERS[o.provider] then
    io.stderr:write("alimtalk sandbox: unknown provider '" .. o.provider
      .. "' (known: sens, bizmessage, apiplex, sinch)\n")
    return 2
  end
  if missing_run_dir(o) then return 2 end
  local s = attached(o, server)
  if not s then return 1 end
  local box, err = s:outbox({ provider = o.provider })
  if not box then
    io.stderr:write("alimtalk sandbox: " .. tostring(err) .. "\n")
    return 1
  end
  if o.to then
    -- each provider stores the number in its own form: compare national digits
    local want, kept = national(o.to), {}
    for _, m in ipairs(box) do
      if national(m.to) == want then kept[#kept + 1] = m end
    end
    box = kept
  end
  if o.json then
    for _, m in ipairs(box) do io.stdout:write(json_line(m)) end
    return 0
  end
  for _, m in ipairs(box) do
    io.stdout:write(string.format("[%s] %s -> %s (%s%s)\n", m.provider, tostring(m.id), tostring(m.to),
      m.status, m.result_code and m.status ~= "delivered" and (" " .. m.result_code) or ""))
    if m.title and m.title ~= cjson.null then io.stdout:write("  ** " .. m.title .. " **\n") end
    for line in (tostring(m.text ~= cjson.null and m.text or "") .. "\n"):gmatch("(.-)\n") do
      io.stdout:write("  " .. line .. "\n")
    end
    if type(m.buttons) == "table" then
      for _, b in ipairs(m.buttons) do
        local link = type(b.url_mobile) == "string" and (" " .. b.url_mobile) or ""
        io.stdout:write("  [" .. tostring(b.type) .. "] " .. tostring(b.name) .. link .. "\n")
      end
    end
    if type(m.fallback) == "table" then
      io.stdout:write("  -> " .. tostring(m.fallback.type) .. " instead: " .. tostring(m.fallback.text)
        .. "\n")
    end
  end
  return 0
end

--- Run `alimtalk sandbox ...`.
-- @tparam table args the arguments after `sandbox`
-- @treturn integer exit code (0 ok, 1 failed / not running, 2 bad arguments)
function _M.main(args)
  local o, err = parse(args)
  if not o then
    io.stderr:write("alimtalk sandbox: " .. err .. " (try 'alimtalk sandbox --help')\n")
    return 2
  end
  if o.help then io.stdout:write(USAGE) return 0 end
  o.run_dir_given = o.run_dir ~= nil
  o.run_dir = o.run_dir or ".alimtalk-sandbox"
  local server = require "alimtalk.sandbox.server"
  if o.command == "start" then return start(o, server) end
  if o.command == "stop" then
    if missing_run_dir(o) then return 2 end
    local s = server.attach(o.run_dir)
    if not s or not s:pid() then
      io.stderr:write("alimtalk sandbox: not running in " .. o.run_dir .. "\n")
      return 1
    end
    s:stop()
    if o.json then io.stdout:write(json_line({ stopped = true, run_dir = s.run_dir }))
    else io.stdout:write("sandbox stopped\n") end
    return 0
  end
  if o.command == "status" then return status(o, server) end
  if o.command == "outbox" then return outbox(o, server) end
  io.stderr:write("alimtalk sandbox: ", o.command and ("unknown subcommand '" .. o.command .. "'")
    or "give a subcommand: start, stop, status or outbox", " (try 'alimtalk sandbox --help')\n")
  return 2
end

return _M
