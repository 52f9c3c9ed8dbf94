-- The OpenResty example (examples/openresty/) in a real nginx with the Lua module, sending
-- through the sandbox server over HTTPS (verified against the sandbox's CA):
-- - a send handler and the webhook receiver (Sinch signatures, API PLEX echo token) work;
-- - while the sandbox answers slowly (1 s), 200 concurrent requests to the send handler do not
--   delay an unrelated handler on the same worker (worker_processes 1) by more than 50 ms at
--   p99, measured with wrk.
local sandbox = require("support.sandbox")
local fs = require("support.fs")
local nginx = require("support.nginx")
local cjson = require("cjson")

local ROOT = sandbox.root

local sh, read_file, write = fs.sh, fs.read_file, fs.write

local ECHO = "echo-token-7f3a9c"

local function ngx_unescape(v)
  return (tostring(v):gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

fs.seed_random() -- for the port choice

describe("OpenResty example", function()
  local s, dir, port, http, env

  local function call(method, path, body)
    local resp, err = http:request({ method = method, url = ("http://127.0.0.1:%d%s"):format(port, path),
                                     headers = { ["Content-Type"] = "application/json" },
                                     body = body and cjson.encode(body) or nil })
    assert(resp, err)
    return resp.status, cjson.decode(resp.body)
  end

  setup(function()
    -- (a 0700 folder, as the checkout may be: run.sh runs the workers as root when root starts it)
    dir = fs.tmpdir("alimtalk-openresty")
    http = require("alimtalk.core").http_client({ timeout = 30 })
    -- the example's nginx first (the sandbox posts webhooks to it), on a free port
    local started
    for _ = 1, 15 do
      port = require("alimtalk.sandbox.server").random_port()
      s = s or sandbox.start({
        delivery_delay = 0.05,
        webhooks = { apiplex = ("http://127.0.0.1:%d/webhooks/apiplex"):format(port),
                     sinch = ("http://127.0.0.1:%d/webhooks/sinch"):format(port) },
      })
      env = ("ALIMTALK_CONFIG='%s/alimtalk.json' APIPLEX_ECHO_TOKEN='%s' SINCH_WEBHOOK_SECRET='%s' "
        .. "APIPLEX_SECRET_KEY='%s' NCP_SECRET_KEY='%s' "):format(dir, ECHO,
        s.credentials.sinch.webhook_secret, s.credentials.apiplex.secret_key, s.credentials.sens.secret_key)
      local c = s.credentials
      -- by host name: nginx verifies certificates against names, not IP addresses
      local https = "https://localhost:" .. s.https_port
      write(dir .. "/alimtalk.json", cjson.encode({
        provider = "sens", templates = sandbox.templates,
        sens = { base_url = https, access_key = c.sens.access_key, secret_key_env = "NCP_SECRET_KEY",
                 service_id = c.sens.service_id, plus_friend_id = c.sens.plus_friend_id, timeout = 10 },
        apiplex = { base_url = https, user_id = c.apiplex.user_id, secret_key_env = "APIPLEX_SECRET_KEY",
                    sender_key = c.apiplex.sender_key, sender_number = "0212345678", timeout = 10 },
      }))
      if sh(("env %s CA_FILE='%s' '%s/examples/openresty/run.sh' start '%s/run' %d >/dev/null 2>&1")
          :format(env, s.ca_file, ROOT, dir, port)) then
        started = true
        break
      end
      s:stop()
      s = nil
    end
    assert(started, read_file(dir .. "/run/error.log"))
  end)

  teardown(function()
    -- the sandbox first: it may still be posting webhooks to the example
    local errs = sandbox.stop(s)
    if dir then sh(("'%s/examples/openresty/run.sh' stop '%s/run'"):format(ROOT, dir)) end
    if http then http:close() end
    local log = dir and read_file(dir .. "/run/error.log") or ""
    fs.rmtree(dir)
    assert.are.same({}, errs)
    -- no Lua error in the example's handlers (connection errors nginx logs are not that)
    assert.is_nil(log:find("runtime error", 1, true), log)
    assert.is_nil(log:find("entry thread aborted", 1, true), log)
  end)

  before_each(function() s:reset() end)

  it("loads the C core built for LuaJIT inside nginx", function()
    local status, body = call("GET", "/health")
    assert.are.equal(200, status)
    assert.is_true(body.ok)
    assert.matches("^%d+%.%d+", body.core)
  end)

  it("sends a message within a request (SENS: signed in the C core) over verified HTTPS", function()
    local status, body = call("POST", "/send", { to = "010-5555-0001", template = "welcome",
                                                 vars = { name = "홍길동", date = "2026-11-21" } })
    assert.are.equal(200, status, cjson.encode(body))
    assert.are.equal("accepted", body.status)
    assert.are.equal("sens", body.provider)
    assert.are.equal("A000", body.code)
    local box = assert(s:outbox({ to = "01055550001" }))
    assert.are.equal(1, #box)
    assert.are.equal("홍길동님, 회원가입을 환영합니다.\n가입일: 2026-11-21", box[1].text)
    -- validation (text measurement in the C core) refuses before anything is sent
    status, body = call("POST", "/send", { to = "02-1", template = "welcome",
                                           vars = { name = "x", date = "y" } })
    assert.are.equal(422, status)
    assert.are.equal("BAD_PHONE", body.error.code)
    -- a provider the configuration does not have is the caller's mistake, not a server error
    status, body = call("POST", "/send?provider=sinch", { to = "010-5555-0001", template = "welcome",
                                                          vars = { name = "x", date = "y" } })
    assert.are.equal(400, status)
    assert.matches("provider 'sinch' is not configured", body.error, 1, true)
  end)

  it("receives API PLEX result webhooks with the echo token and refuses forged ones", function()
    local status = call("POST", "/send?provider=apiplex", { to = "010-5555-0002", template = "welcome",
                                           vars = { name = "김", date = "2026-11-21" }, id = "or-2" })
    assert.are.equal(200, status)
    local found
    sandbox.wait(function()
      local _, body = call("GET", "/events")
      for _, e in ipairs(body.events) do
        if e.provider == "apiplex" and e.ids and e.ids.msg_key == "or-2" then found = e end
      end
      return found
    end, 10)
    assert.is_table(found, "no webhook arrived")
    assert.are.equal("delivered", found.status)
    local forged = { results = { { msg_key = "or-2", code = "0000", echo_to_webhook = "guess" } } }
    local st = call("POST", "/webhooks/apiplex", forged)
    assert.are.equal(401, st)
  end)

  it("verifies Sinch webhook signatures (and refuses a replay)", function()
    local body = cjson.encode({ app_id = "SANDBOXAPP", message_delivery_report = {
      message_id = "01HSINCH", status = "DELIVERED", channel_identity = { channel = "KAKAOTALK",
      identity = "01055550003" } } })
    local ts = tostring(os.time())
    local nonce = "n-" .. math.random(1e9)
    local headers = {
      ["Content-Type"] = "application/json",
      ["x-sinch-webhook-signature"] = sandbox.hmac_b64("sandbox-webhook-secret",
                                                       body .. "." .. nonce .. "." .. ts),
      ["x-sinch-webhook-signature-timestamp"] = ts,
      ["x-sinch-webhook-signature-nonce"] = nonce,
      ["x-sinch-webhook-signature-algorithm"] = "HmacSHA256",
    }
    local url = ("http://127.0.0.1:%d/webhooks/sinch"):format(port)
    local r1 = assert(http:request({ method = "POST", url = url, headers = headers, body = body }))
    assert.are.equal(200, r1.status, r1.body)
    local r2 = assert(http:request({ method = "POST", url = url, headers = headers, body = body }))
    assert.are.equal(401, r2.status)
    assert.matches("REPLAYED", r2.body)
    headers["x-sinch-webhook-signature-nonce"] = nonce .. "x"
    local r3 = assert(http:request({ method = "POST", url = url, headers = headers, body = body }))
    assert.are.equal(401, r3.status)
    assert.matches("BAD_SIGNATURE", r3.body)
  end)

  it("never falls back to the blocking client in a phase without cosockets", function()
    -- A private nginx: one client per worker, used first in the log phase (where nginx has no
    -- cosockets), then in a content handler, a header filter and a timer.
    local c = s.credentials
    local ndir = dir .. "/phases"
    sh("mkdir -p '" .. ndir .. "'")
    write(ndir .. "/conf.json", cjson.encode({ provider = "sens", templates = sandbox.templates,
      sens = { base_url = s.http_url, access_key = c.sens.access_key, secret_key = c.sens.secret_key,
               service_id = c.sens.service_id, plus_friend_id = c.sens.plus_friend_id } }))
    local n = nginx.start({ dir = ndir, config = function(d, ports)
      return nginx.head(d, { worker_connections = 256 }) .. ([[
  access_log off;
  lua_package_path "ROOT/lua/?.lua;ROOT/lua/?/init.lua;;";
  lua_package_cpath "ROOT/build/luajit/?.so;;";
  lua_shared_dict out 1m;
  init_by_lua_block {
    local f = assert(io.open("DIR/conf.json"))
    local conf = require("cjson").decode(f:read("a"))
    f:close()
    local client
    function get_client() client = client or assert(require("alimtalk").new(conf)) return client end
    function msg(n)
      return { to = "010-5556-000" .. n, template = "welcome", vars = { name = "n" .. n, date = "d" } }
    end
    function try(n)
      local ok, r = pcall(function() return get_client():send(msg(n)) end)
      return ok and ("sent: " .. tostring(r and r.status)) or tostring(r)
    end
  }
  server {
    listen 127.0.0.1:PORT;
    location = /log {
      content_by_lua_block { ngx.say("ok") }
      log_by_lua_block { ngx.shared.out:set("log", try(1)) }
    }
    location = /send { content_by_lua_block { ngx.say(try(2)) } }
    location = /header {
      header_filter_by_lua_block { ngx.header["X-Result"] = ngx.escape_uri(try(3)) }
      content_by_lua_block { ngx.say("ok") }
    }
    location = /timer {
      content_by_lua_block {
        ngx.timer.at(0, function() ngx.shared.out:set("timer", try(4)) end)
        ngx.say("queued")
      }
    }
    location = /out { content_by_lua_block { ngx.say(ngx.shared.out:get(ngx.var.arg_k) or "") } }
  }
}
]]):gsub("DIR", d):gsub("ROOT", ROOT):gsub("PORT", tostring(ports[1]))
    end })
    finally(function() n:stop() end)
    local nport = n.port
    local function get(path)
      local r = assert(http:request({ method = "GET", url = ("http://127.0.0.1:%d%s"):format(nport, path) }))
      return r.body:gsub("\n$", ""), r
    end
    assert.are.equal("ok", (get("/log")))
    local log_result
    sandbox.wait(function()
      log_result = get("/out?k=log")
      return log_result ~= ""
    end, 5)
    assert.matches("cannot send in nginx's log phase", log_result, 1, true)
    assert.matches("ngx.timer.at", log_result, 1, true)
    -- the same client, in a handler with cosockets: sends (nothing was cached for the worker)
    assert.are.equal("sent: accepted", (get("/send")))
    local _, r = get("/header")
    assert.matches("cannot send in nginx's header_filter phase", ngx_unescape(r.headers["x-result"]), 1, true)
    assert.are.equal("queued", (get("/timer")))
    local timer_result
    sandbox.wait(function()
      timer_result = get("/out?k=timer")
      return timer_result ~= ""
    end, 5)
    assert.are.equal("sent: accepted", timer_result)
    assert.are.equal(0, #assert(s:outbox({ to = "01055560001" })))
    assert.are.equal(1, #assert(s:outbox({ to = "01055560002" })))
  end)

  it("keeps an unrelated handler fast while 200 sends wait on a slow provider", function()
    assert(s:fault({ provider = "sens", kind = "delay", delay = 1 }))
    local lua_script = dir .. "/post.lua"
    write(lua_script, ([[
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = %q
]]):format(cjson.encode({ to = "010-5555-0004", template = "welcome",
                          vars = { name = "박", date = "2026-11-21" } })))
    -- 200 connections keep the send handler busy for 4 s; 1 s in, measure /health for 2 s
    local load = ("wrk -t 2 -c 200 -d 4s --timeout 10s -s '%s' 'http://127.0.0.1:%d/send' "
      .. "> '%s/load.txt' 2>&1")
      :format(lua_script, port, dir)
    local probe = ("sleep 1; wrk -t 1 -c 1 -d 2s --latency 'http://127.0.0.1:%d/health' "
      .. "> '%s/probe.txt' 2>&1")
      :format(port, dir)
    -- wrk sizes its event loop by its connection count: descriptors this process leaves open
    -- would push its sockets past that size, so close them first.
    local close_fds = "for fd in $(ls /proc/$$/fd); do [ $fd -gt 2 ] && eval \"exec $fd>&-\"; done"
      .. " 2>/dev/null"
    write(dir .. "/load.sh", close_fds .. "\n(" .. load .. ") & (" .. probe .. ")\nwait\n")
    sh(("bash '%s/load.sh'"):format(dir))
    s:clear_faults()
    sh("sleep 1.2") -- sends still waiting in the sandbox finish before anything is stopped
    local probe_out = read_file(dir .. "/probe.txt")
    local load_out = read_file(dir .. "/load.txt")
    -- the sends really were in flight: about 200 per second of the slow provider
    local sends = tonumber(load_out:match("(%d+) requests in"))
    assert.is_true(sends and sends >= 400, load_out)
    local p99, unit = probe_out:match("\n%s*99%%%s+([%d%.]+)(%a+)")
    assert.is_not_nil(p99, probe_out)
    local ms = tonumber(p99) * ({ us = 0.001, ms = 1, s = 1000, m = 60000 })[unit]
    assert.is_true(ms <= 50, ("p99 of /health was %.1f ms under load:\n%s"):format(ms, probe_out))
    print(("\n/health under 200 slow sends: p99 %.2f ms (%d sends in flight over 4 s)"):format(ms, sends))
    local probes = tonumber(probe_out:match("(%d+) requests in"))
    assert.is_true(probes > 100, probe_out)
  end)
end)
