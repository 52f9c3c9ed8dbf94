--- `alimtalk status`: query delivery results by id.
-- @module alimtalk.cli.status
local common = require("alimtalk.cli.common")

local _M = {}

_M.help = [[
usage: alimtalk status ID... [--request] [options]
       alimtalk status --queue NAME [ID...] [--redis URL]

Ask the provider what became of messages: each ID is a message id (SENS messageId, the
sandbox's message id, BizMessage uid), or with --request a send request id (SENS
requestId: every message of that request). Prints one delivery event per message:
delivered, failed or pending, with the provider's code.

  --request            the IDs are request ids (SENS only)
  -p, --provider NAME  provider to ask (default: the configured one)
  -c, --config FILE    configuration (default $ALIMTALK_CONFIG or ./alimtalk.json)
  --json               one JSON object per event
  -h, --help           this help

With --queue NAME (and --redis URL), the outcomes a send queue stored (docs/scale-out.md):
each ID's state, provider and delivery, or without IDs the queue's counts.

Providers: sens, bizmessage (uid) and the sandbox answer by message id, sens also by request
id; API PLEX and Sinch report results by webhook only ('alimtalk webhook verify').
Exit status: 0 all delivered, 1 some failed or a query failed, 2 bad arguments (or a question
the provider cannot answer), 3 some still pending.
]]

local spec = { options = { request = {} }, min_args = 1, missing = "give at least one id" }

-- The providers that answer each question (alimtalk.providers.*: query_request; query_message
-- or BizMessage's detail), for the message to a user who asked another.
local REQUEST_QUERY = { "sens" }
local MESSAGE_QUERY = { "sens", "bizmessage", "sandbox" }

local function show(opts, id, ev)
  if opts.json then
    ev = common.plain(ev)
    ev.query = id
    common.print_json(ev)
    return
  end
  local ids = type(ev.ids) == "table" and ev.ids or {}
  local parts = { tostring(ids.message_id or ids.uid or ids.msg_key or ids.cid or id), tostring(ev.status) }
  if ev.code then parts[#parts + 1] = "code=" .. tostring(ev.code) end
  if ev.detail_code then parts[#parts + 1] = "detail=" .. tostring(ev.detail_code) end
  if ev.provider then parts[#parts + 1] = "via " .. tostring(ev.provider) end
  if ev.to then parts[#parts + 1] = "to " .. tostring(ev.to) end
  if ev.time or ev.at then parts[#parts + 1] = "at " .. tostring(ev.time or ev.at) end
  if ev.message then parts[#parts + 1] = "(" .. tostring(ev.message) .. ")" end
  common.out(table.concat(parts, " "), "\n")
end

--- Run `alimtalk status`.
function _M.main(args)
  local queue_cli = require("alimtalk.queue.cli")
  if queue_cli.wanted(args) then return queue_cli.status(args) end
  local opts, cfg = common.start("status", spec, _M.help, args, true)
  if not opts then return cfg end
  local client, ce = common.client(cfg)
  if not client then return common.usage_error("status", ce) end
  -- Not every provider can be asked: a question it cannot answer is a bad argument (exit 2),
  -- said before anything is sent, with the providers that can answer it.
  local names = common.used_sections(cfg)
  local can_request, can_message = false, false
  for _, n in ipairs(names) do
    local p = client:provider(n)
    if p and p.query_request then can_request = true end
    if p and (p.query_message or p.detail) then can_message = true end
  end
  local name = table.concat(names, ", ")
  if opts.request and not can_request then
    client:close()
    return common.usage_error("status", "--request (a send request id) works with "
      .. table.concat(REQUEST_QUERY, ", ") .. " only; " .. name .. " has no request query: give message ids")
  end
  if not opts.request and not can_message then
    client:close()
    return common.usage_error("status", name .. " cannot be asked about a message (results come by "
      .. "webhook: see 'alimtalk webhook verify'); status works with " .. table.concat(MESSAGE_QUERY, ", "))
  end
  local failed, pending = false, false
  for _, id in ipairs(opts.args) do
    local method
    if opts.request then method = "query_request"
    else
      local p = client.provider and client:provider()
      method = (p and not p.query_message and p.detail) and "detail" or "query_message"
    end
    local ok, res, err = pcall(client[method], client, id)
    if not ok then
      client:close()
      return common.usage_error("status", common.raised(res))
    end
    if not res then
      failed = true
      if type(err) == "table" and err.code == "NOT_FOUND" then
        -- the provider's own words ("fail", "HTTP 404") say nothing about what was asked
        local where = err.provider or cfg.provider
        err.message = "no " .. (opts.request and "request" or "message") .. " with id " .. id
          .. (where and (" at " .. tostring(where)) or "")
      end
      if opts.json then common.print_json({ query = id, ok = false, error = err })
      else common.err("alimtalk status: ", id, ": ", tostring(err), "\n") end
    else
      local list = res.status and { res } or (res.events or res)
      for _, ev in ipairs(list) do
        show(opts, id, ev)
        if ev.status == "failed" then failed = true elseif ev.status ~= "delivered" then pending = true end
      end
    end
  end
  client:close()
  if failed then return common.EXIT.failed end
  return pending and common.EXIT.uncertain or common.EXIT.ok
end

return _M
