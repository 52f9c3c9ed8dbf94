-- Every webhook parser (lua/alimtalk/webhook/*) on mutations of the real bodies in
-- spec/fixtures/webhooks/ and on random headers (strings, numbers, repeated headers as tables).
-- Properties: parse never raises; it gives an event (a delivery status of events.statuses, or
-- an inbound message) or nil and an error table; a body whose signature, echo token or Basic
-- credentials do not hold never gives an event.
local gen = require "fuzz.lua.gen"
local core = require "alimtalk.core"
local errors = require "alimtalk.errors"
local events = require "alimtalk.events"

local NOW = 1700000000
local SECRET, TOKEN = "fuzz-webhook-secret", "fuzz-echo-token"
local sinch = assert(require("alimtalk.webhook.sinch").new{ secret = SECRET,
                                                            now = function() return NOW end })
local apiplex = assert(require("alimtalk.webhook.apiplex").new{ echo_token = TOKEN })
local alcmeon = assert(require("alimtalk.webhook.alcmeon").new{ basic_user = "u", basic_password = "p" })
local BASIC = "Basic " .. core.base64_encode("u:p")

local bodies = {}
for _, f in ipairs({ "sinch_delivered", "sinch_failed", "sinch_inbound_text", "sinch_kat",
                     "apiplex_result", "alcmeon_failed" }) do
  bodies[f] = gen.read_spec_file("fixtures/webhooks/" .. f .. ".json")
end
bodies.apiplex_result = bodies.apiplex_result:gsub('"echo_to_webhook"%s*:%s*"[^"]*"',
                                                   '"echo_to_webhook":"' .. TOKEN .. '"')

local function header_value(g, good)
  local k = g:int(1, 8)
  if k == 1 then return { good, good } end          -- a repeated header (OpenResty gives a table)
  if k == 2 then return tonumber(good) or g:int(0, 1e9) end
  if k == 3 then return g:mutate(tostring(good)) end
  return good
end

local function check_event(ev)
  assert(getmetatable(ev) and (ev.kind == "inbound" or events.statuses[ev.status]), "not an event")
end

local function outcome(ok, a, b)
  assert(ok, "parse raised: " .. tostring(a))
  if a == nil then assert(errors.is(b) and type(b.code) == "string", "nil without an error table") end
  return a
end

local _M = {}

function _M.run(g)
  local which = g:int(1, 3)
  if which == 1 then
    local name = g:pick({ "sinch_delivered", "sinch_failed", "sinch_inbound_text", "sinch_kat" })
    local body = g:chance(0.8) and g:mutate(bodies[name]) or bodies[name]
    local nonce = "n" .. g:int(1, 1e9)
    local ts = tostring(NOW + g:int(-400, 400))
    if g:chance(0.1) then ts = g:pick({ "99999999999999999999", "-5", "1e3", "" }) end
    local signed_body = g:chance(0.8) and body or g:mutate(body)
    local sig = core.sinch_signature(SECRET, signed_body, nonce, "1")
    if ts:match("^%d+$") then sig = core.sinch_signature(SECRET, signed_body, nonce, ts) end
    local headers = {
      ["x-sinch-webhook-signature"] = header_value(g, sig),
      ["X-Sinch-Webhook-Signature-Timestamp"] = header_value(g, ts),
      ["x-sinch-webhook-signature-nonce"] = header_value(g, nonce),
    }
    if g:chance(0.2) then headers["x-sinch-webhook-signature-algorithm"] = header_value(g, "HmacSHA256") end
    g.case = body .. "\n--- headers ---\n" .. require("cjson").encode(headers)
    local ev = outcome(pcall(sinch.parse, sinch, headers, body))
    if ev then
      check_event(ev)
      assert(signed_body == body and headers["x-sinch-webhook-signature"] == sig,
             "an event from a body the signature does not cover")
    end
  elseif which == 2 then
    local body = g:mutate(bodies.apiplex_result)
    g.case = body
    local evs = outcome(pcall(apiplex.parse, apiplex, {}, body))
    if evs then
      assert(#evs >= 1, "an empty list of events")
      for _, ev in ipairs(evs) do check_event(ev); assert(ev.raw.echo_to_webhook == TOKEN, "echo token") end
    end
  else
    local body = g:mutate(bodies.alcmeon_failed)
    local auth = header_value(g, BASIC)
    g.case = body .. "\n--- authorization ---\n" .. tostring(auth)
    local ev = outcome(pcall(alcmeon.parse, alcmeon, { Authorization = auth }, body))
    if ev then check_event(ev); assert(auth == BASIC, "an event without the credentials") end
  end
end

return _M
