-- Each provider's answer parsing (lua/alimtalk/providers/*), through the whole client with a
-- transport that answers mutated real answers (spec/fixtures/provider_answers.lua, the source
-- documents' own examples) under random HTTP statuses. Properties: send never raises; every
-- result has a status (accepted, rejected, uncertain or not_sent); `accepted` only when the
-- answer carries the provider's success marker for that message: SENS an entry with
-- requestStatusCode A000, BizMessage code 200 (or 100, in processing; or the detail 3012, a
-- message already taken under this serial), API PLEX a result with
-- C100, Sinch a 2xx with a message_id. And the OAuth token answers of BizMessage and Sinch,
-- mutated (see token_case).
local alimtalk = require "alimtalk"
local answers = require "fixtures.provider_answers"
local cjson = require "cjson.safe"
local common = require "alimtalk.providers.common"

local STATUSES = { accepted = true, rejected = true, uncertain = true, not_sent = true }
local HTTP = { 200, 200, 200, 202, 201, 400, 401, 404, 429, 500, 502, 503 }
local CODES = { "A000", "success", "0000", "200", "100", "202", "DONE", "COMPLETED", "C100",
                "NRM0000", "3012", "DELIVERED", "processing", "API_200" }
local TOKEN = '{"access_token":"t","expires_in":3600}'
local MSG = { id = "k1", to = "010-1234-5678", template = "T1", content = "주문이 접수되었습니다",
              vars = { name = "x" } }

local function str(v) return v ~= nil and v ~= cjson.null and tostring(v) or nil end

-- The OAuth token answers (BizMessage as its sandbox gives it, Sinch as its reference shows)
-- and the values a mutation puts in their fields.
local TOKEN_ANSWERS = {
  bizmessage = '{"code":"200","access_token":"eyJhbGciOiJIUzI1NiJ9.e30.c2ln","token_type":"bearer",'
               .. '"expires_in":3600}',
  sinch = '{"access_token":"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJrIn0.c2ln","expires_in":3599,"scope":"",'
          .. '"token_type":"bearer"}',
}
local ACCESS = { "null", "0", "12345", "true", "[]", "{}", '""', '" "', '"a b"', '"tok\\r\\nX-Evil: 1"',
                 '"tok\\n"', '"\\u0000"', '"토큰"', '"' .. ("A"):rep(5000) .. '"', '"ok-token_1.2~+/="' }
local EXPIRES = { '"3600"', '"-5"', "-5", "0", "-0", "1e999", "-1e999", "NaN", "Infinity", '"NaN"', '"inf"',
                  '"1e999"', "9223372036854775807", "1e300", '"0x10"', "null", "[]", "{}", "true", '"x"',
                  "0.5", "59", "61", '""' }
local NOT_OBJECTS = { "[]", '"access_token"', "5", "null", "true", '[{"access_token":"t"}]', "" }
local MAX_TTL = 86400   -- what lua/alimtalk/providers/common.lua believes of an expires_in at most

-- What a client must make of a token answer: the token, or nil when it holds none usable
-- (HTTP 200 and an object whose access_token is a non-empty string of visible ASCII).
local function usable_token(status, body)
  local doc = cjson.decode(body)
  local t = status == 200 and type(doc) == "table" and doc.access_token
  return type(t) == "string" and t:find("^[\33-\126]+$") and t or nil
end

local current = { status = 200, body = "" }
local token = { status = 200, body = TOKEN }
local sent = {}            -- the send requests of this case
local transport = {}
function transport.request(_, req)
  if req.url:find("token", 1, true) then return { status = token.status, headers = {}, body = token.body } end
  sent[#sent + 1] = req
  return { status = current.status, headers = current.headers, body = current.body }
end
function transport.request_many(self, reqs)
  local out = {}
  for i, r in ipairs(reqs) do out[i] = { resp = self:request(r) } end
  return out
end

local function client(conf)
  conf.validate, conf.transport, conf.retry = false, transport, { max_attempts = 1 }
  -- a run of failed cases must not open the circuit: each case is judged on its own answers
  conf.route = { order = { conf.provider }, failures = math.huge }
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

-- A token answer: a real one with a field replaced, no object at all, cut short, or mutated.
local function token_answer(g, name)
  local body = TOKEN_ANSWERS[name]
  local r = g:int(1, 6)
  if r == 1 then body = body:gsub('"access_token":"[^"]*"', '"access_token":' .. g:pick(ACCESS))
  elseif r == 2 then body = body:gsub('"expires_in":[^,}]*', '"expires_in":' .. g:pick(EXPIRES))
  elseif r == 3 then body = body:gsub('"access_token":"[^"]*",?', "")
  elseif r == 4 then body = g:pick(NOT_OBJECTS)
  elseif r == 5 then body = body:sub(1, g:int(0, #body - 1))
  else body = g:mutate(body) end
  return body
end

-- BizMessage and Sinch with a fresh token fetch answered by a mutated token answer: never a
-- raise, never a send with a token that was not usable, a clear code when there was none, and
-- a usable one cached for a finite, positive lifetime of at most a day.
local function token_case(g, name)
  local p = PROVIDERS[name]
  local provider = p.client:provider(name)
  provider:unauthorized()
  token.status = g:chance(0.85) and 200 or g:pick(HTTP)
  token.body = token_answer(g, name)
  current.status, current.headers, current.body = 200, {}, p.answers[1]
  sent = {}
  g.case = name .. " token answer HTTP " .. token.status .. "\n" .. token.body
  local ok, r = pcall(p.client.send, p.client, MSG)
  assert(ok, "send raised: " .. tostring(r))
  assert(type(r) == "table" and STATUSES[r.status], "a result without a status: " .. tostring(r and r.status))
  local want = usable_token(token.status, token.body)
  if not want then
    assert(#sent == 0, name .. ": a message went out with no usable token")
    assert(r.status ~= "accepted", name .. ": accepted without a token")
    local code = token.status == 200 and "BAD_TOKEN" or tostring(token.status)
    assert(r.code == code, name .. ": code " .. tostring(r.code) .. ", not " .. code)
    assert(not common.token_valid(provider), name .. ": a token cached from a bad answer")
  else
    assert(#sent == 1 and sent[1].headers.Authorization == "Bearer " .. want,
           name .. ": the send did not carry the token of the answer (" .. #sent .. " sends; "
           .. tostring(r.status) .. " " .. tostring(r.code) .. ")")
    local ttl = provider.token_expires - provider.now()
    assert(ttl == ttl and ttl > 0 and ttl <= MAX_TTL + 1, name .. ": token lifetime " .. tostring(ttl))
  end
  token.status, token.body = 200, TOKEN
end

local _M = {}

function _M.run(g)
  if g:chance(0.3) then return token_case(g, g:pick({ "bizmessage", "sinch" })) end
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
