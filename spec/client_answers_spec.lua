-- Odd answers from a provider: a malformed entry, a missing or numeric code, a code nobody
-- documented. A message the provider may have taken must come back `uncertain` (never
-- `rejected`, which invites a resend under a new id), and one bad entry must not cost the
-- batch its other results. Each provider is a real nginx on loopback answering fixed bodies.
local alimtalk = require "alimtalk"
local nginx = require "support.nginx"
local fs = require "support.fs"

-- One server (port) per scenario: path -> { status, body }
local TOKEN = { 200, '{"access_token":"t","expires_in":3600}' }
local SCENARIOS = {
  -- SENS: one good entry, one null
  { name = "sens-null", ["/alimtalk/v2/services/svc/messages"] = { 202,
    '{"requestId":"R1","statusCode":"202","messages":['
      .. '{"messageId":"M1","requestStatusCode":"A000"},null]}' } },
  -- SENS: accepted, but the entries carry no request status code / an unknown one
  { name = "sens-nocode", ["/alimtalk/v2/services/svc/messages"] = { 202,
    '{"requestId":"R2","messages":[{"messageId":"M2"},{"messageId":"M3","requestStatusCode":"Z999"}]}' } },
  -- BizMessage: codes as JSON numbers, and null
  { name = "biz200", ["/v2/oauth/token"] = TOKEN, ["/v2/send/kakao"] = { 200,
    '{"code":200,"uid":"U1","cid":"k1","result":{"detail_code":"NRM0000"}}' } },
  { name = "biz504", ["/v2/oauth/token"] = TOKEN, ["/v2/send/kakao"] = { 504, '{"code":504}' } },
  { name = "biznull", ["/v2/oauth/token"] = TOKEN, ["/v2/send/kakao"] = { 200, '{"code":null}' } },
  -- OAuth token answers the providers fuzzer (spec/fuzz/lua/providers.lua) found mishandled:
  -- a blank token was sent as "Bearer  ", a cut answer gave the code "200", a negative or huge
  -- expires_in was believed
  { name = "biz-tok-blank",
    ["/v2/oauth/token"] = { 200, '{"code":"200","access_token":" ","expires_in":3600}' },
    ["/v2/send/kakao"] = { 200, '{"code":"200","uid":"U1","cid":"k1"}' } },
  { name = "biz-tok-cut", ["/v2/oauth/token"] = { 200, '{"code":"200","access_token":"t","expi' },
    ["/v2/send/kakao"] = { 200, '{"code":"200","uid":"U1","cid":"k1"}' } },
  { name = "sinch-tok-neg", ["/oauth2/token"] = { 200, '{"access_token":"tok","expires_in":-5}' },
    ["/v1/projects/p/messages:send"] = { 200, '{"message_id":"01HMSG"}' } },
  { name = "sinch-tok-huge", ["/oauth2/token"] = { 200, '{"access_token":"tok","expires_in":"1e999"}' },
    ["/v1/projects/p/messages:send"] = { 200, '{"message_id":"01HMSG"}' } },
  { name = "sinch-tok-big", ["/oauth2/token"] = { 200, '{"access_token":"tok","expires_in":1e9}' },
    ["/v1/projects/p/messages:send"] = { 200, '{"message_id":"01HMSG"}' } },
  -- API PLEX: a null result beside a good one; a result without a code
  { name = "apx-null", ["/at-standard/v2/send"] = { 200,
    '{"results":[null,{"msg_key":"k2","code":"C100","desc":"Success"}]}' } },
  { name = "apx-nocode", ["/at-standard/v2/send"] = { 200, '{"results":[{"msg_key":"k1"}]}' } },
}

local function message(i)
  return { id = "k" .. i, to = "010-1234-56" .. string.format("%02d", i), template = "T1",
           content = "주문이 접수되었습니다 " .. i }
end

describe("client: odd provider answers", function()
  local srv

  local url = {}

  setup(function()
    srv = nginx.start({ dir = fs.tmpdir("alimtalk-answers"), ports = #SCENARIOS,
                        config = function(dir, ports)
      local servers = {}
      for i, sc in ipairs(SCENARIOS) do
        local locs = {}
        for path, a in pairs(sc) do
          if path ~= "name" then
            locs[#locs + 1] = ("    location = %s { default_type application/json; return %d '%s'; }")
              :format(path, a[1], a[2])
          end
        end
        servers[i] = "  server {\n    listen 127.0.0.1:" .. ports[i] .. ";\n"
          .. table.concat(locs, "\n") .. "\n  }\n"
      end
      return nginx.head(dir) .. table.concat(servers) .. "}\n"
    end })
    for i, sc in ipairs(SCENARIOS) do url[sc.name] = "http://127.0.0.1:" .. srv.ports[i] end
  end)

  teardown(function() if srv then srv:stop() end end)

  local function client(provider, scenario, extra)
    local base = url[scenario]
    local conf = {
      sens = { base_url = base, access_key = "AK", secret_key = "SK", service_id = "svc",
               plus_friend_id = "@shop" },
      bizmessage = { base_url = base, client_id = "id", client_secret = "secret",
                     sender_key = "key", sender_no = "0212345678" },
      apiplex = { base_url = base, user_id = "u", secret_key = "s", service_id = "at-standard",
                  sender_key = "key", sender_number = "0212345678" },
      sinch = { base_url = base, auth_url = base, project_id = "p", app_id = "a", key_id = "k",
                key_secret = "s" },
    }
    local c = conf[provider]
    for k, v in pairs(extra or {}) do c[k] = v end
    return assert(alimtalk.new{ provider = provider, [provider] = c, validate = false,
                                retry = { max_attempts = 1 } })
  end

  it("SENS: a null entry beside a good one is uncertain, the good one accepted", function()
    local cl = client("sens", "sens-null")
    local rs = cl:send_batch({ message(1), message(2) })
    assert.equal(2, #rs)
    assert.equal("accepted", rs[1].status)
    assert.equal("uncertain", rs[2].status)
    cl:close()
  end)

  it("SENS: accepted entries with no code or an undocumented one are uncertain", function()
    local cl = client("sens", "sens-nocode")
    local rs = cl:send_batch({ message(1), message(2) })
    assert.equal("uncertain", rs[1].status)
    assert.equal("uncertain", rs[2].status)
    cl:close()
  end)

  it("BizMessage: numeric codes read as integers; 504 and a null code are uncertain", function()
    local ok = client("bizmessage", "biz200")
    local r = assert(ok:send(message(1)))
    assert.equal("accepted", r.status)
    ok:close()
    local gw = client("bizmessage", "biz504")
    r = assert(gw:send(message(1)))
    assert.equal("uncertain", r.status)
    assert.is_nil(tostring(r.code):find(".0", 1, true))
    gw:close()
    local null = client("bizmessage", "biznull")
    r = assert(null:send(message(1)))
    assert.equal("uncertain", r.status)
    null:close()
  end)

  it("a token answer without a usable access_token sends nothing and says BAD_TOKEN", function()
    for _, sc in ipairs({ "biz-tok-blank", "biz-tok-cut" }) do
      local cl = client("bizmessage", sc)
      local r = assert(cl:send(message(1)))
      assert.equal("not_sent", r.status, sc)
      assert.equal("BAD_TOKEN", r.code, sc)
      assert.is_true(cl:provider().token_expires == 0, sc)
      cl:close()
    end
  end)

  it("a token's expires_in: the default when negative or infinite, at most a day", function()
    local want = { ["sinch-tok-neg"] = 3600, ["sinch-tok-huge"] = 3600, ["sinch-tok-big"] = 86400 }
    for sc, ttl in pairs(want) do
      local cl = client("sinch", sc)
      local r = assert(cl:send(message(1)))
      assert.equal("accepted", r.status, sc)
      local p = cl:provider()
      assert.near(ttl, p.token_expires - p.now(), 5, sc)
      cl:close()
    end
  end)

  it("API PLEX: a null result does not break the batch; a result without a code is uncertain", function()
    local cl = client("apiplex", "apx-null")
    local rs = cl:send_batch({ message(1), message(2) })
    assert.equal(2, #rs)
    assert.equal("accepted", rs[2].status)
    assert.equal("uncertain", rs[1].status)
    cl:close()
    local nc = client("apiplex", "apx-nocode")
    local r = assert(nc:send(message(1)))
    assert.equal("uncertain", r.status)
    nc:close()
  end)

  it("refuses a second message with the same id in one batch, and sends the first", function()
    local cl = assert(alimtalk.new{ sandbox = { outbox = false, profile = "bizmessage" },
                                    templates = "examples/templates.json" })
    local a = { id = "same", to = "010-1234-5601", template = "login_code", vars = { code = "1" } }
    local b = { id = "same", to = "010-1234-5602", template = "login_code", vars = { code = "2" } }
    local rs = cl:send_batch({ a, b })
    assert.equal("accepted", rs[1].status)
    assert.is_nil(rs[1].duplicate)
    assert.equal("rejected", rs[2].status)
    assert.equal("DUPLICATE_ID", rs[2].error.code)
    assert.equal("messages[2].id", rs[2].error.field)
    cl:close()
  end)

  it("a transport that loses its requests mid-batch costs no result: in flight uncertain", function()
    -- The real curl transport, except that after the first answer its wait() reports nothing:
    -- the failure no loopback server can provoke, seen through the transport seam.
    local curl = require("alimtalk.transport.curl").new({})
    local waits = 0
    local lossy = {
      request = function(_, req) return curl:request(req) end,
      request_many = function(_, reqs) return curl:request_many(reqs) end,
      submit = function(_, req) return curl:submit(req) end,
      wait = function(_, timeout)
        waits = waits + 1
        if waits > 1 then return nil end
        return curl:wait(timeout)
      end,
    }
    local cl = assert(alimtalk.new{ provider = "apiplex", validate = false, transport = lossy,
      retry = { max_attempts = 1 }, concurrency = 2,
      apiplex = { base_url = url["apx-nocode"], user_id = "u", secret_key = "s",
                  service_id = "at-standard", sender_key = "key", sender_number = "0212345678" } })
    local msgs = {}
    for i = 1, 40 do msgs[i] = message(i) end
    local rs = cl:send_batch(msgs)
    assert.equal(40, #rs)
    local count = {}
    for i = 1, 40 do
      assert.is_string(rs[i].status, "result " .. i .. " has no status")
      count[rs[i].status] = (count[rs[i].status] or 0) + 1
    end
    -- requests 1 and 2 go out; request 1's answer (no code) is uncertain and frees a slot for
    -- request 3; then the transport loses 2 and 3, which may have gone out: uncertain too.
    -- Request 4 was never submitted: not_sent, safe to send again.
    assert.equal(30, count.uncertain)
    assert.equal(10, count.not_sent)
    assert.is_nil(count.accepted)
    cl:close()
    curl:close()
  end)
end)
