-- Each provider's answer parsing (lua/alimtalk/providers/*), through the whole client with a
-- transport that answers mutated real answers (spec/fixtures/provider_answers.lua, the source
-- documents' own examples) under random HTTP statuses. Properties: send never raises; every
-- result has a status (accepted, rejected, uncertain or not_sent); `accepted` only when the
-- answer carries the provider's success marker for that message: SENS an entry with
-- requestStatusCode A000, BizMessage code 200 (or 100, in processing; or the detail 3012, a
-- message already taken under this serial), API PLEX a result with
-- C100, Sinch a 2xx with a message_id.
local alimtalk = require "alimtalk"
local answers = require "fixtures.provider_answers"
local cjson = require "cjson.safe"

local STATUSES = { accepted = true, rejected = true, uncertain = true, not_sent = true }
local HTTP = { 200, 200, 200, 202, 201, 400, 401, 404, 429, 500, 502, 503 }
local CODES = { "A000", "success", "0000", "200", "100", "202", "DONE", "COMPLETED", "C100",
                "NRM0000", "3012", "DELIVERED", "processing", "API_200" }
local TOKEN = '{"access_token":"t","expires_in":3600}'
local MSG = { id = "k1", to = "010-1234-5678", template = "T1", content = "주문이 접수되었습니다",
              vars = { name = "x" } }

local function str(v) return v ~= nil and v ~= cjson.null and tostring(v) or nil end

local current = { status = 200, body = "" }
local transport = {}
function transport.request(_, req)
  if req.url:find("token", 1, true) then return { status = 200, headers = {}, body = TOKEN } end
  return { status = current.status, headers = current.headers, body = current.body }
end
function transport.request_many(self, reqs)
  local out = {}
  for i, r in ipairs(reqs) do out[i] = { resp = self:request(r) } end
  return out
end

local function client(conf)
  conf.validate, conf.transport, conf.retry = false, transport, { max_attempts = 1 }
  return assert(alimtalk.new(conf))
end

local PROVIDERS = {
  sens = {
    client = client{ provider = "sens", sens = { base_url = "https://sens.test", access_key = "AK",
      secret_key = "SK", service_id = "svc", plus_friend_id = "@shop" } },
    answers = { answers.sens.send, answers.sens.message },
    marker = function(doc, status)
      local m = type(doc) == "table" and type(doc.messages) == "table" and doc.messages[1]
      return (status == 200 or status == 202) and type(m) == "table" and str(m.requestStatusCode) == "A000"
    end,
  },
  bizmessage = {
    client = client{ provider = "bizmessage", bizmessage = { base_url = "https://biz.test",
      client_id = "id", client_secret = "secret", sender_key = "key", sender_no = "0212345678" } },
    answers = { answers.bizmessage.send_ok, answers.bizmessage.send_410, answers.bizmessage.send_520,
                answers.bizmessage.send_dup },
    marker = function(doc)
      local code = type(doc) == "table" and str(doc.code)
      local detail = type(doc) == "table" and type(doc.result) == "table" and str(doc.result.detail_code)
                     or nil
      -- Kakao 3012: a message under this serial exists already (a resend found it accepted)
      return code == "200" or code == "100" or code == "3012"
             or (detail ~= nil and detail:find("3012$") ~= nil)
    end,
  },
  apiplex = {
    client = client{ provider = "apiplex", apiplex = { base_url = "https://apx.test", user_id = "u",
      secret_key = "s", service_id = "at-standard", sender_key = "key", sender_number = "0212345678" } },
    answers = { answers.apiplex.send },
    marker = function(doc)
      local rs = type(doc) == "table" and doc.results
      if type(rs) ~= "table" then return false end
      for _, r in ipairs(rs) do
        if type(r) == "table" and str(r.code) == "C100" and (str(r.msg_key) == "k1" or #rs == 1) then
          return true
        end
      end
      return false
    end,
  },
  sinch = {
    client = client{ provider = "sinch", sinch = { base_url = "https://sinch.test",
      auth_url = "https://auth.test", project_id = "p", app_id = "a", key_id = "k",
      key_secret = "s" } },
    answers = { '{"message_id":"01HMSG","accepted_time":"2026-11-21T10:00:00Z"}',
                '{"error":{"code":400,"message":"bad","status":"INVALID_ARGUMENT"}}' },
    marker = function(doc, status)
      local id = type(doc) == "table" and doc.message_id
      return status >= 200 and status < 300 and type(id) == "string" and id ~= ""
    end,
  },
}
local NAMES = { "sens", "bizmessage", "apiplex", "sinch" }

local _M = {}

function _M.run(g)
  local name = g:pick(NAMES)
  local p = PROVIDERS[name]
  local body = g:pick(p.answers)
  if g:chance(0.4) then
    -- a code or name of the catalogue where another one was (a value a parser might take for
    -- success)
    body = body:gsub('"([%w_]+)"', function(x)
      if g:chance(0.15) then return '"' .. g:pick(CODES) .. '"' end
      return '"' .. x .. '"'
    end)
  end
  if g:chance(0.7) then body = g:mutate(body) end
  current.status = g:chance(0.7) and 200 or g:pick(HTTP)
  current.headers = g:chance(0.2) and { ["retry-after"] = g:pick({ "3", "-1", "x", "1e9" }) } or {}
  current.body = body
  g.case = name .. " HTTP " .. current.status .. "\n" .. body
  local ok, r = pcall(p.client.send, p.client, MSG)
  assert(ok, "send raised: " .. tostring(r))
  assert(type(r) == "table" and STATUSES[r.status], "a result without a status: " .. tostring(r and r.status))
  if r.status == "accepted" then
    assert(p.marker(cjson.decode(body), current.status),
           name .. ": accepted without the success marker (code " .. tostring(r.code) .. ")")
  end
end

return _M
