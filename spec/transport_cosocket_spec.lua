-- The OpenResty transport, run inside a real nginx (Debian's nginx + the Lua module): a
-- "client" nginx runs alimtalk.transport.cosocket in a content handler and talks to the
-- loopback test server from spec/support/httpd.lua (plain HTTP and TLS with a throwaway CA).
local httpd = require("support.httpd")
local fs = require("support.fs")
local nginx = require("support.nginx")
local cjson = require("cjson")

local read_file = fs.read_file

local ROOT = assert(io.popen("pwd")):read("*l")

-- Start a private nginx whose one server runs `handler` (Lua code) at /t.
local function start_client_nginx(ca_file)
  return nginx.start({ dir = fs.tmpdir("alimtalk-cosock"), config = function(dir, ports)
    return nginx.head(dir) .. "  access_log off;\n" .. ([[
  lua_package_path "ROOT/lua/?.lua;ROOT/lua/?/init.lua;;";
  lua_package_cpath "ROOT/build/luajit/?.so;;";
  lua_ssl_trusted_certificate CAFILE;
  lua_ssl_verify_depth 3;
  lua_shared_dict hits 1m;
  server {
    listen 127.0.0.1:PORT;
    # a server of our own that closes without answering, counting what it received
    location = /local_ok { content_by_lua_block { ngx.say("ok") } }
    location = /local_drop {
      content_by_lua_block {
        ngx.req.read_body()
        ngx.shared.hits:incr(ngx.req.get_method(), 1, 0)
        ngx.exit(444)
      }
    }
    location = /hits {
      content_by_lua_block {
        ngx.say(require("cjson").encode({ POST = ngx.shared.hits:get("POST") or 0,
                                          GET = ngx.shared.hits:get("GET") or 0 }))
      }
    }
    location = /t {
      client_body_buffer_size 1m;
      content_by_lua_block {
        local cjson = require "cjson"
        local T = require "alimtalk.transport.cosocket"
        ngx.req.read_body()
        local spec = cjson.decode(ngx.req.get_body_data())
        if spec.new_only then
          local ok, err = pcall(T.new, spec.opts)
          ngx.say(cjson.encode({ ok = ok, err = not ok and tostring(err) or nil }))
          return
        end
        local t = T.new(spec.opts or {})
        local out = { available = T.available() }
        if spec.many then
          out.results = t:request_many(spec.many)
        else
          out.list = {}
          for i, req in ipairs(spec.reqs) do
            local resp, msg, code, sent = t:request(req)
            out.list[i] = { resp = resp, err = msg, code = code, sent = sent }
          end
        end
        out.stats = t:stats()
        ngx.say(cjson.encode(out))
      }
    }
  }
}
]]):gsub("ROOT", ROOT):gsub("CAFILE", ca_file):gsub("PORT", tostring(ports[1]))
  end })
end

describe("transport.cosocket inside nginx", function()
  local upstream, client, http

  setup(function()
    upstream = httpd.start({ tls = true })
    client = start_client_nginx(upstream.ca_file)
    http = require("alimtalk.core").http_client({ timeout = 20 })
  end)

  teardown(function()
    if client then client:stop() end
    if upstream then upstream:stop() end
    if http then http:close() end
  end)

  -- Ask the client nginx to run requests through the cosocket transport.
  local function run(spec)
    local resp, err = http:request({ method = "POST", url = ("http://127.0.0.1:%d/t"):format(client.port),
                                     headers = { ["Content-Type"] = "application/json" },
                                     body = cjson.encode(spec) })
    assert(resp, err)
    assert.are.equal(200, resp.status, resp.body .. (read_file(client.dir .. "/error.log") or ""))
    return cjson.decode(resp.body)
  end

  it("is chosen only inside nginx, and refuses to start outside", function()
    local T = require("alimtalk.transport.cosocket")
    assert.is_false(T.available())
    assert.has_error(function() T.new() end)
    assert.is_true(run({ reqs = {} }).available)
  end)

  it("refuses a ca_file option with a message naming lua_ssl_trusted_certificate", function()
    local out = run({ new_only = true, opts = { ca_file = "/etc/ssl/certs/ca-certificates.crt" } })
    assert.is_false(out.ok)
    assert.matches("lua_ssl_trusted_certificate", out.err, 1, true)
    assert.is_true(run({ new_only = true, opts = { timeout = 5 } }).ok)
  end)

  it("sends a POST with headers and body and reads the answer", function()
    local out = run({ reqs = { { method = "POST", url = upstream:url("/echo"),
                                 headers = { ["Content-Type"] = "application/json", ["X-Test"] = "홍길동" },
                                 body = '{"to":"01012345678"}' } } })
    local r = out.list[1].resp
    assert.are.equal(200, r.status)
    assert.are.equal('{"to":"01012345678"}', r.body)
    assert.are.equal("POST", r.headers["x-method"])
    assert.are.equal("홍길동", r.headers["x-echo-x-test"])
    assert.are.equal("application/json", r.headers["x-echo-content-type"])
  end)

  it("reuses one pooled connection for consecutive requests", function()
    local out = run({ reqs = { { method = "GET", url = upstream:url("/ok") },
                               { method = "GET", url = upstream:url("/ok") },
                               { method = "GET", url = upstream:url("/ok") } } })
    local c1 = out.list[1].resp.headers["x-connection"]
    assert.are.equal(c1, out.list[2].resp.headers["x-connection"])
    assert.are.equal(c1, out.list[3].resp.headers["x-connection"])
    local n1 = tonumber(out.list[1].resp.headers["x-connection-requests"])
    assert.are.equal(n1 + 2, tonumber(out.list[3].resp.headers["x-connection-requests"]))
    assert.are.equal(3, out.stats.requests)
  end)

  it("reads chunked and Content-Length bodies whole, and refuses one over max_response", function()
    local out = run({ opts = { max_response = 1048576 },
                      reqs = { { method = "GET", url = upstream:url("/big?bytes=300000") },
                               { method = "GET", url = upstream:url("/big_cl?bytes=70000") },
                               { method = "GET", url = upstream:url("/big?bytes=2000000") },
                               { method = "GET", url = upstream:url("/big_cl?bytes=2000000") } } })
    assert.are.equal(300000, #out.list[1].resp.body)
    assert.are.equal(string.rep("x", 300000), out.list[1].resp.body)
    assert.are.equal(70000, #out.list[2].resp.body)
    assert.are.equal("too_large", out.list[3].code)
    assert.are.equal("too_large", out.list[4].code)
  end)

  it("reports a timeout after sending as possibly sent, a refused connection as not sent", function()
    -- a port nothing listens on: bind-test by asking the upstream for one it does not use
    local out = run({ opts = { timeout = 0.3, connect_timeout = 1 },
                      reqs = { { method = "POST", url = upstream:url("/stall"), body = "x" },
                               { method = "GET", url = "http://127.0.0.1:1/ok" },
                               { method = "GET", url = "http://no-such-host.invalid/ok" } } })
    assert.are.equal("timeout", out.list[1].code)
    assert.is_true(out.list[1].sent)
    assert.are.equal("connect", out.list[2].code)
    assert.is_false(out.list[2].sent)
    assert.are.equal("dns", out.list[3].code)
    assert.is_false(out.list[3].sent)
  end)

  it("never resends a POST the server may have received on a reused connection", function()
    local base = ("http://127.0.0.1:%d"):format(client.port)
    -- the first request leaves a pooled connection; the POST goes out whole on it and the
    -- server closes it without answering: it may have been processed, so it is not resent
    local out = run({ reqs = { { method = "GET", url = base .. "/local_ok" },
                               { method = "POST", url = base .. "/local_drop", body = "x" },
                               { method = "GET", url = base .. "/local_ok" },
                               { method = "GET", url = base .. "/local_drop" } } })
    assert.are.equal(200, out.list[1].resp.status)
    assert.are.equal("protocol", out.list[2].code)
    assert.is_true(out.list[2].sent)
    assert.matches("may have been received", out.list[2].err)
    -- a GET is idempotent: resent once on a fresh connection (which is dropped too)
    assert.are.equal("protocol", out.list[4].code)
    local resp = assert(http:request({ method = "GET", url = base .. "/hits" }))
    local hits = cjson.decode(resp.body)
    assert.are.equal(1, hits.POST, "the POST reached the server more than once")
    assert.are.equal(2, hits.GET)
  end)

  it("verifies TLS: the right certificate passes, a wrong host name fails before sending", function()
    local out = run({ reqs = { { method = "POST", url = upstream:https_url("/echo"), body = "secure" },
                               { method = "GET", url = upstream:wrong_url("/ok") } } })
    assert.is_table(out.list[1].resp, out.list[1].err)
    assert.are.equal(200, out.list[1].resp.status)
    assert.are.equal("secure", out.list[1].resp.body)
    assert.are.equal("tls", out.list[2].code, out.list[2].err)
    assert.is_false(out.list[2].sent)
  end)

  it("runs request_many concurrently on several connections, results in order", function()
    local many = {}
    for i = 1, 12 do
      many[i] = { method = "POST", url = upstream:url("/echo"), body = "n" .. i }
    end
    many[13] = { method = "GET", url = upstream:url("/delay?ms=300") }
    many[14] = { method = "GET", url = upstream:url("/delay?ms=300") }
    local out = run({ opts = { max_connections = 4 }, many = many })
    local conns = {}
    for i = 1, 12 do
      assert.are.equal("n" .. i, out.results[i].resp.body)
      conns[out.results[i].resp.headers["x-connection"]] = true
    end
    assert.matches("^slept", out.results[13].resp.body)
    assert.matches("^slept", out.results[14].resp.body)
    local n = 0
    for _ in pairs(conns) do n = n + 1 end
    assert.is_true(n > 1 and n <= 4, "connections used: " .. n)
  end)
end)
