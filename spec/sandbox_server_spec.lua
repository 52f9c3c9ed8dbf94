-- The sandbox server's life cycle (alimtalk.sandbox.server, `alimtalk sandbox`), TLS, overrides,
-- and robustness: malformed requests to every endpoint get a provider answer, never a 500.
local sandbox = require "support.sandbox"
local server = require "alimtalk.sandbox.server"
local fs = require "support.fs"

local sh, q = fs.capture, fs.q

describe("sandbox server", function()
  it("starts two servers on distinct free ports and stops them (stop is idempotent)", function()
    local a = sandbox.start{}
    local b = sandbox.start{ tls = false }
    finally(function() sandbox.stop(a) sandbox.stop(b) end)
    assert.not_equal(a.http_url, b.http_url)
    assert.is_nil(b.https_url)
    -- below the ephemeral range, where a client connection's own port could take it
    local range = io.open("/proc/sys/net/ipv4/ip_local_port_range")
    local low = range and tonumber(range:read("a"):match("%d+"))
    if range then range:close() end
    if low and low > 12000 then
      for _, p in ipairs({ a.port, a.https_port, b.port }) do assert.is_true(p < low, tostring(p)) end
    end
    assert.equal(200, assert(sandbox.http(a, { path = "/_sandbox/health" })).status)
    assert.equal(200, assert(sandbox.http(b, { path = "/_sandbox/health" })).status)
    local pid = a:pid()
    assert.is_number(pid)
    assert.same({}, sandbox.stop(a))
    assert.is_nil(a:pid())
    assert.is_true(a:stop())
    local resp, _, code = sandbox.http(a, { path = "/_sandbox/health", timeout = 2 })
    assert.is_nil(resp)
    assert.equal("connect", code)
  end)

  it("serves HTTPS that verifies with the generated CA only", function()
    local s = sandbox.start{}
    finally(function() sandbox.stop(s) end)
    assert.matches("^https://127%.0%.0%.1:%d+$", s.https_url)
    local ok = assert(sandbox.http(s, { path = "/_sandbox/health", https = true }))
    assert.equal(200, ok.status)
    -- without the CA the certificate does not verify
    local resp, _, code = sandbox.http(s, { url = s.https_url .. "/_sandbox/health" })
    assert.is_nil(resp)
    assert.equal("tls", code)
  end)

  it("raises on unknown options and returns an error for a missing templates file", function()
    assert.has_error(function() server.start{ prot = 1 } end)
    assert.has_error(function() server.start{ port = "80" } end)
    local s, err = server.start{ templates = "/nonexistent/templates.json" }
    assert.is_nil(s)
    assert.matches("templates", err)
  end)

  it("takes credential overrides", function()
    local s = sandbox.start{ credentials = { sens = { access_key = "MYKEY", secret_key = "mysecret" },
      apiplex = { user_id = "me" } } }
    local c
    -- one finally: busted keeps only the last one a test registers
    finally(function()
      if c then c:close() end
      sandbox.stop(s)
    end)
    assert.equal("MYKEY", s.credentials.sens.access_key)
    assert.equal(s.credentials.sens.service_id, server.default_credentials.sens.service_id)
    local uri = sandbox.sens_base(s) .. "/channels"
    local ok = assert(sandbox.http(s, { path = uri, headers = sandbox.sens_headers(s, "GET", uri) }))
    assert.equal(200, ok.status)
    local h = sandbox.sens_headers(s, "GET", uri, { access_key = server.default_credentials.sens.access_key,
      secret_key = server.default_credentials.sens.secret_key })
    assert.equal(401, assert(sandbox.http(s, { path = uri, headers = h })).status)
    -- client_options carry the overridden credentials, so a client built from them is accepted
    local o = s:client_options("sens", { timeout = 3 })
    assert.equal("MYKEY", o.access_key)
    assert.equal(s.https_url, o.base_url)
    assert.equal(s.ca_file, o.ca_file)
    assert.equal(3, o.timeout)
    c = assert(require("alimtalk").new{ provider = "sens", sens = o })
    assert.truthy(c:channels())
    assert.has_error(function() s:client_options("sms") end)
  end)

  it("listens on loopback only: other hosts are refused (the admin API has no authentication)", function()
    for _, host in ipairs({ "0.0.0.0", "10.1.2.3", "::", "example.com", "128.0.0.1" }) do
      local s, err = server.start{ host = host, tls = false }
      if s then s:stop() end
      assert.is_nil(s, host)
      assert.matches("loopback", err)
    end
    local s = sandbox.start{ host = "127.0.0.2", tls = false }
    finally(function() assert.same({}, sandbox.stop(s)) end)
    assert.equal("http://127.0.0.2:" .. s.port, s.http_url)
    assert.equal(200, assert(sandbox.http(s, { path = "/_sandbox/health" })).status)
  end)

  it("raises on unknown credentials and webhooks keys; refuses a webhook host it cannot resolve", function()
    assert.has_error(function() server.start{ credentials = { sms = { key = "x" } } } end,
      "alimtalk.sandbox.server.start: unknown credentials provider sms")
    assert.has_error(function() server.start{ credentials = { sens = { acess_key = "x" } } } end,
      "alimtalk.sandbox.server.start: unknown credentials.sens field acess_key")
    assert.has_error(function() server.start{ credentials = { sens = { access_key = 5 } } } end)
    assert.has_error(function() server.start{ webhooks = { apiplx = "/_sandbox/sink/x" } } end,
      "alimtalk.sandbox.server.start: unknown webhooks provider apiplx (apiplex, sinch)")
    local s, err = server.start{ tls = false, webhooks = { sinch = "https://hooks.example.invalid/s" } }
    if s then s:stop() end
    assert.is_nil(s)
    assert.matches("webhooks.sinch: webhook URL host must be an IP address or localhost", err)
  end)

  it("resolves relative paths against the real working directory, not a stale $PWD", function()
    local runtime = rawget(_G, "jit") and "luajit" or "lua5.4"
    local script = table.concat({
      'package.path = "lua/?.lua;lua/?/init.lua;" .. package.path',
      'local server = require "alimtalk.sandbox.server"',
      'local s, err = server.start{ templates = "spec/fixtures/templates.json", tls = false }',
      'if not s then print("ERR " .. tostring(err)) os.exit(1) end',
      'local r = s:request("GET", "/_sandbox/health")',
      's:stop()',
      'print("OK " .. tostring(r and r.body))',
    }, "\n")
    local rc, out = sh("cd " .. q(sandbox.root) .. " && PWD=/nonexistent-stale-pwd " .. runtime
      .. " -e " .. q(script))
    assert.equal(0, rc, out)
    assert.matches('OK .*"templates":8', out)
  end)

  it("answers malformed requests on every endpoint without a 500 or a Lua error", function()
    local s = sandbox.start{}
    finally(function() assert.same({}, sandbox.stop(s)) end)
    local biz = sandbox.bizmessage_token(s)
    local sinch = sandbox.sinch_token(s)
    local base = sandbox.sens_base(s)
    local apiplex = s.credentials.apiplex.user_id .. ";" .. s.credentials.apiplex.secret_key
    local bodies = { "", "null", "[]", "1", '"x"', "{", '{"messages":"x"}', '{"messages":[1,null,"a"]}',
      '{"plusFriendId":1,"templateCode":[],"messages":[{"to":1,"content":{}}]}',
      '{"plusFriendId":"@sandbox","templateCode":"WELCOME",'
        .. '"messages":[{"to":"01012345678","content":"\255\254"}]}',
      '{"msg_type":"AT","msg_data":[1,"a",null,{},{"msg":1,"attachment":"x","supplement":[]}]}',
      '{"msg_type":"AT","msg_data":[{"sender_number":"0212345678","msg":"x","receiver_number":"01012345678",'
        .. '"template_code":"T0002","sender_key":"x",'
        .. '"attachment":{"button":[1,{"type":"WL"}],"item":{"list":"x"}}}]}',
      '{"message_type":"AT","cid":1,"attachment":{"button":"x"},"supplement":{"quick_reply":[1]}}',
      '{"app_id":"SANDBOXAPP","recipient":{"identified_by":{"channel_identities":"x"}},'
        .. '"message":{"template_message":1}}',
      '{"app_id":"SANDBOXAPP","recipient":{"contact_id":"x"},'
        .. '"message":{"template_message":{"channel_template":'
        .. '{"KAKAOTALK":{"template_id":"welcome","parameters":[1,2]}}}}}',
      string.rep("[", 200) .. string.rep("]", 200),
      '{"size":"x","last_uid":{},"start_date":1,"end_date":2}',
    }
    local targets = {
      { "POST", base .. "/messages", "sens" }, { "GET", base .. "/messages?requestId=RSAL-x", "sens" },
      { "GET", base .. "/messages?pageSize=x&requestStartTime=1&requestEndTime=2&plusFriendId=%40sandbox",
        "sens" },
      { "GET", base .. "/templates?channelId=%40sandbox&pageSize=abc", "sens" },
      { "POST", "/v2/send/kakao", "biz" }, { "POST", "/v2/info/message/search", "biz" },
      { "GET", "/v2/info/message/search/detail/%20x", "biz" },
      { "POST", "/at-standard/v2/send", "apiplex" },
      { "POST", "/v1/projects/" .. s.credentials.sinch.project_id .. "/messages:send", "sinch" },
      { "POST", "/oauth2/token", "none" }, { "POST", "/v2/oauth/token", "none" },
      { "POST", "/_sandbox/faults", "none" }, { "POST", "/_sandbox/settings", "none" },
      { "DELETE", "/v2/send/kakao", "biz" }, { "GET", "/nowhere", "none" },
    }
    for _, t in ipairs(targets) do
      for _, body in ipairs(bodies) do
        local headers = { ["Content-Type"] = "application/json" }
        if t[3] == "sens" then
          for k, v in pairs(sandbox.sens_headers(s, t[1], t[2])) do headers[k] = v end
        elseif t[3] == "biz" then headers.Authorization = "Bearer " .. biz
        elseif t[3] == "sinch" then headers.Authorization = "Bearer " .. sinch
        elseif t[3] == "apiplex" then headers.Authorization = apiplex end
        local r = assert(sandbox.http(s, { method = t[1], path = t[2], headers = headers,
          body = t[1] ~= "GET" and body or nil }))
        assert.is_true(r.status < 500,
          t[1] .. " " .. t[2] .. " " .. body .. " -> " .. r.status .. " " .. r.body)
        assert.is_table(r.json, t[2] .. " answered non-JSON: " .. r.body)
      end
    end
  end)

  describe("the alimtalk sandbox command", function()
    local bin = sandbox.root .. "/bin/alimtalk"
    local dir

    setup(function()
      local p = io.popen("mktemp -d /tmp/alimtalk-sandbox-cli.XXXXXX")
      dir = p:read("*l")
      p:close()
    end)

    teardown(function()
      sh(bin .. " sandbox stop --run-dir " .. dir)
      os.execute("rm -rf '" .. dir .. "'")
    end)

    it("prints help, starts, reports status, lists the outbox and stops", function()
      local rc, out = sh(bin .. " sandbox --help")
      assert.equal(0, rc)
      assert.matches("outbox", out)
      assert.equal(2, (sh(bin .. " sandbox start --bogus")))
      rc, out = sh(bin .. " sandbox start --run-dir " .. dir .. " --templates " .. sandbox.templates
        .. " --delivery-delay 0")
      assert.equal(0, rc, out)
      local url = out:match("http:%s+(http://[%d%.:]+)")
      assert.is_string(url)
      assert.equal(1, (sh(bin .. " sandbox start --run-dir " .. dir)))  -- already running
      local s = assert(server.attach(dir))
      assert.equal(url, s.http_url)
      local uri = sandbox.sens_base(s) .. "/messages"
      local r = assert(sandbox.http(s, { method = "POST", path = uri,
        headers = sandbox.sens_headers(s, "POST", uri),
        json = { plusFriendId = "@sandbox", templateCode = "WELCOME", messages = { {
          to = "01077778888", content = "김철수님, 회원가입을 환영합니다.\n가입일: 2026-11-21" } } } }))
      assert.equal(202, r.status)
      rc, out = sh(bin .. " sandbox status --run-dir " .. dir)
      assert.equal(0, rc)
      assert.matches("messages: 1", out)
      rc, out = sh(bin .. " sandbox outbox --run-dir " .. dir .. " --to 01077778888")
      assert.equal(0, rc)
      assert.matches("김철수님, 회원가입을 환영합니다.", out, 1, true)
      assert.equal(0, (sh(bin .. " sandbox stop --run-dir " .. dir)))
      assert.equal(1, (sh(bin .. " sandbox status --run-dir " .. dir)))
    end)
  end)
end)
