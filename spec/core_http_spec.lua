-- alimtalk.core.http_client against a real nginx on loopback (spec/support/httpd.lua).
local core = require "alimtalk.core"
local httpd = require "support.httpd"
local fs = require "support.fs"

local function now()   -- wall clock in seconds (os.clock is CPU time)
  local p = io.popen("date +%s.%N")
  local t = tonumber(p:read("*l"))
  p:close()
  return t
end

describe("core.http_client", function()
  local srv, client, closed

  setup(function()
    srv = httpd.start({ tls = true })
    closed = "http://127.0.0.1:" .. httpd.closed_port()
  end)

  teardown(function()
    if client then client:close() end
    if srv then srv:stop() end
  end)

  before_each(function()
    client = core.http_client({ ca_file = srv.ca_file, timeout = 20, connect_timeout = 10,
                                max_connections = 16 })
  end)

  after_each(function()
    client:close()
  end)

  describe("keep-alive", function()
    it("sends many requests over one connection", function()
      local conn
      for i = 1, 20 do
        local resp, err = client:request({ url = srv:url("/ok") })
        assert.is_nil(err)
        assert.are.equal(200, resp.status)
        assert.are.equal("ok", resp.body)
        conn = conn or resp.headers["x-connection"]
        assert.are.equal(conn, resp.headers["x-connection"])
        assert.are.equal(tostring(i), resp.headers["x-connection-requests"])
      end
      local st = client:stats()
      assert.are.equal(1, st.connections)
      assert.are.equal(20, st.requests)
    end)

    it("keeps the TLS connection too", function()
      for _ = 1, 5 do
        local resp, err = client:request({ method = "POST", url = srv:https_url("/ok"), body = "{}" })
        assert.is_nil(err)
        assert.are.equal(200, resp.status)
      end
      assert.are.equal(1, client:stats().connections)
    end)
  end)

  describe("request_many", function()
    it("runs requests concurrently and returns the results in order", function()
      local n, reqs = 10, {}
      for i = 1, n do reqs[i] = { url = srv:url("/delay?ms=" .. (200 + (n - i) * 10)) } end
      local t0 = now()
      local results = client:request_many(reqs)
      local elapsed = now() - t0
      assert.are.equal(n, #results)
      for i = 1, n do
        assert.is_nil(results[i].err)
        assert.are.equal(200, results[i].resp.status)
        assert.are.equal("slept " .. (200 + (n - i) * 10), results[i].resp.body)
      end
      -- sequentially this takes at least n * 200 ms; concurrently about 300 ms
      assert.is_true(elapsed < n * 0.2 / 2, ("took %.3f s"):format(elapsed))
    end)

    it("reports each failure in its own slot", function()
      local results = client:request_many({
        { url = srv:url("/ok") },
        { url = closed .. "/ok" },
        { url = srv:url("/big?bytes=5000"), max_response = 1000 },
        { method = "POST", url = srv:url("/echo"), body = "three" },
      })
      assert.are.equal(200, results[1].resp.status)
      assert.are.equal("connect", results[2].code)
      assert.is_false(results[2].sent)
      assert.is_string(results[2].err)
      assert.are.equal("too_large", results[3].code)
      assert.is_true(results[3].sent)
      assert.are.equal("three", results[4].resp.body)
    end)

    it("returns an empty list for no requests", function()
      assert.are.same({}, client:request_many({}))
    end)
  end)

  describe("requests", function()
    it("sends method, headers and body; names the library in User-Agent; never Expect", function()
      local body = string.rep("b", 2 * 1024 * 1024)
      local resp = assert(client:request({
        method = "POST", url = srv:url("/echo"), body = body, max_response = 4 * 1024 * 1024,
        headers = { ["Content-Type"] = "application/json; charset=utf-8", ["X-Test"] = "v 1", ["X-Num"] = 7 },
      }))
      assert.are.equal(200, resp.status)
      assert.are.equal(#body, #resp.body)
      assert.are.equal("POST", resp.headers["x-method"])
      assert.are.equal("application/json; charset=utf-8", resp.headers["x-echo-content-type"])
      assert.are.equal("v 1", resp.headers["x-echo-x-test"])
      assert.are.equal("7", resp.headers["x-echo-x-num"])
      assert.are.equal(tostring(#body), resp.headers["x-echo-content-length"])
      assert.are.equal("alimtalk/" .. core.version, resp.headers["x-echo-user-agent"])
      assert.is_nil(resp.headers["x-echo-expect"])
    end)

    it("sends a header with an empty value and a user agent suffix", function()
      local c = core.http_client({ user_agent = "shop/2.0" })
      local long = string.rep("v", 3000)
      local resp = assert(c:request({ url = srv:url("/headers"),
                                      headers = { ["X-Empty"] = "", ["X-Long"] = long } }))
      c:close()
      assert.truthy(resp.body:find("\r\nX%-Empty:[ \t]*\r\n"))
      assert.truthy(resp.body:find("\r\nX-Long: " .. long .. "\r\n", 1, true))
      local ua = "alimtalk/" .. core.version .. " shop/2.0"
      assert.truthy(resp.body:find("\r\nUser-Agent: " .. ua .. "\r\n", 1, true))
    end)

    it("supports GET, PUT, DELETE and HEAD", function()
      for _, m in ipairs({ "GET", "PUT", "DELETE", "PATCH" }) do
        local body = m ~= "GET" and m or nil
        local resp = assert(client:request({ method = m, url = srv:url("/echo"), body = body }))
        assert.are.equal(m, resp.headers["x-method"])
        assert.are.equal(m ~= "GET" and m or "", resp.body)
      end
      local resp = assert(client:request({ method = "HEAD", url = srv:url("/ok") }))
      assert.are.equal(200, resp.status)
      assert.are.equal("", resp.body)
      -- the pooled handle forgets HEAD and the previous body
      resp = assert(client:request({ method = "POST", url = srv:url("/echo"), body = "after head" }))
      assert.are.equal("POST", resp.headers["x-method"])
      assert.are.equal("after head", resp.body)
      resp = assert(client:request({ url = srv:url("/echo") }))
      assert.are.equal("GET", resp.headers["x-method"])
      assert.are.equal("", resp.body)
      assert.is_nil(resp.headers["x-echo-content-length"])
    end)

    it("does not hold a HEAD answer's Content-Length against max_response", function()
      -- found by the fuzzer (spec/fuzz/corpus/http/head-content-length): the answer to HEAD
      -- names the size of a body it does not send
      local resp, err, code = client:request({ method = "HEAD", url = srv:url("/big_cl?bytes=5000"),
                                               max_response = 100 })
      assert.is_nil(code, err)
      assert.are.equal(200, resp.status)
      assert.are.equal("5000", resp.headers["content-length"])
      assert.are.equal("", resp.body)
      -- a GET of the same is still refused by its Content-Length
      local none, _, gcode = client:request({ url = srv:url("/big_cl?bytes=5000"), max_response = 100 })
      assert.is_nil(none)
      assert.are.equal("too_large", gcode)
    end)

    it("lower-cases response header names", function()
      local resp = assert(client:request({ url = srv:url("/ok") }))
      assert.are.equal("2", resp.headers["content-length"])
      for k in pairs(resp.headers) do assert.are.equal(k:lower(), k) end
    end)

    it("returns a redirect as it is instead of following it", function()
      local resp = assert(client:request({ url = srv:url("/redirect") }))
      assert.are.equal(302, resp.status)
      assert.truthy(resp.headers["location"]:find("/ok$"))
      -- the server saw one request for /redirect and none for /ok after it
      local i, seen = srv:wait_seen("GET /redirect")
      assert.truthy(i)
      assert.are.equal(#seen, i)
    end)
  end)

  describe("failures", function()
    it("connect: a closed port, nothing sent", function()
      local resp, msg, code, sent = client:request({ method = "POST", url = closed .. "/x", body = "x" })
      assert.is_nil(resp)
      assert.are.equal("connect", code)
      assert.is_false(sent)
      assert.truthy(msg:find("127.0.0.1", 1, true))
    end)

    it("timeout: a server that stalls after the request was sent", function()
      local resp, msg, code, sent = client:request({ method = "POST", url = srv:url("/stall"),
                                                     body = "{}", timeout = 0.3 })
      assert.is_nil(resp)
      assert.are.equal("timeout", code)
      assert.is_true(sent)
      assert.truthy(msg:lower():find("timed out", 1, true))
    end)

    it("protocol: a server that closes without answering, after the request was sent", function()
      local resp, msg, code, sent = client:request({ method = "POST", url = srv:url("/drop"), body = "{}" })
      assert.is_nil(resp)
      assert.are.equal("protocol", code)
      assert.is_true(sent)
      assert.is_string(msg)
    end)

    it("never sends a request twice when a reused connection dies without a response", function()
      assert(client:request({ url = srv:url("/ok") }))          -- the connection to reuse
      local resp, msg, code, sent = client:request({ method = "POST", url = srv:url("/drop?once"),
                                                     body = "{}" })
      assert.is_nil(resp)
      assert.are.equal("protocol", code)
      assert.is_true(sent)
      assert.truthy(msg:find("not sent again", 1, true))
      -- the connection is gone: the next request opens a new one and works
      assert.are.equal(200, assert(client:request({ url = srv:url("/ok?next") })).status)
      local _, seen = srv:wait_seen("/ok?next")
      local n = 0
      for _, l in ipairs(seen) do if l:find("/drop?once", 1, true) then n = n + 1 end end
      assert.are.equal(1, n)
    end)

    it("too_large: bodies over the cap, with and without Content-Length", function()
      local small = core.http_client({ max_response = 1000 })
      for _, path in ipairs({ "/big?bytes=1001", "/big_cl?bytes=1001", "/big?bytes=3000000" }) do
        local resp, _, code, sent = small:request({ url = srv:url(path) })
        assert.is_nil(resp, path)
        assert.are.equal("too_large", code, path)
        assert.is_true(sent)
      end
      local resp = assert(small:request({ url = srv:url("/big_cl?bytes=1000") }))
      assert.are.equal(1000, #resp.body)
      small:close()
      -- the default cap is 1 MiB
      assert.are.equal("too_large", select(3, client:request({ url = srv:url("/big?bytes=1048577") })))
      assert.are.equal(1048576, #assert(client:request({ url = srv:url("/big?bytes=1048576") })).body)
    end)

    it("tls: a certificate for another name, and an untrusted CA, nothing sent", function()
      local resp, msg, code, sent = client:request({ method = "POST", url = srv:wrong_url("/ok"),
                                                     body = "s" })
      assert.is_nil(resp)
      assert.are.equal("tls", code)
      assert.is_false(sent)
      assert.is_string(msg)
      local plain = core.http_client({})     -- system trust store: our test CA is not in it
      resp, msg, code, sent = plain:request({ url = srv:https_url("/ok") })
      assert.is_string(msg)
      plain:close()
      assert.is_nil(resp)
      assert.are.equal("tls", code)
      assert.is_false(sent)
      assert.are.equal(200, assert(client:request({ url = srv:https_url("/ok") })).status)
    end)

    -- The lookup runs in a child inside a private network namespace that has only loopback
    -- (unshare -n): the system resolver's query cannot leave the machine. *.invalid never
    -- resolves (RFC 6761). Same runtime and build as this spec.
    it("dns: a name that cannot resolve, nothing sent", function()
      local sh, q = fs.capture, fs.q
      local rc, why = sh("unshare -n sh -c 'ip link set lo up' >/dev/null")
      if rc ~= 0 then
        pending("needs unshare -n (util-linux) and ip (iproute2) as root to isolate the lookup: " .. why)
        return
      end
      local runtime = rawget(_G, "jit") and "luajit" or "lua5.4"
      local script = table.concat({
        'local core = require "alimtalk.core"',
        'local c = core.http_client({ timeout = 5, connect_timeout = 3 })',
        'local resp, _, code, sent = c:request({ url = "https://nonexistent.invalid/x" })',
        'io.write("resp=", tostring(resp), " code=", tostring(code), " sent=", tostring(sent), "\\n")',
      }, "\n")
      local out
      rc, out = sh("LUA_CPATH=" .. q(package.cpath) .. " unshare -n sh -c "
        .. q("ip link set lo up && exec " .. runtime .. " -e " .. q(script)))
      assert.are.equal(0, rc, out)
      assert.matches("resp=nil code=dns sent=false", out, 1, true)
    end)

    it("counts every transfer in stats", function()
      client:request({ url = closed .. "/x" })
      client:request({ url = srv:url("/ok") })
      assert.are.equal(2, client:stats().requests)
    end)
  end)

  describe("folded header lines (obs-fold), from a raw server", function()
    local h
    local NORMAL = "HTTP/1.1 200 OK\r\nX-A: 1\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"

    setup(function() h = require("support.hostile").start() end)
    teardown(function() if h then h:stop() end end)

    it("refuses an answer whose first header line is folded, after earlier answers", function()
      -- libcurl before 8.1.0 read and reallocated freed memory here on a reused easy handle
      -- (a segfault without the fix, curl/curl#11101); found by the http fuzz target, whose
      -- inputs are spec/fuzz/corpus/http/libcurl-folded-header* (first byte: the harness's mode)
      local answers = { "HTTP/1.1 200 OK\r\n X-B: 2\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}" }
      for _, f in ipairs({ "libcurl-folded-header", "libcurl-folded-header-2" }) do
        answers[#answers + 1] = fs.read_file("spec/fuzz/corpus/http/" .. f):sub(2)
      end
      for i, bytes in ipairs(answers) do
        for _, method in ipairs({ "POST", "GET" }) do
          local ok = assert(client:request({ url = h:playback("normal", NORMAL) }))
          assert.are.equal("1", ok.headers["x-a"])
          local req = { method = method, body = method == "POST" and "{}" or nil,
                        url = h:playback("folded" .. i, bytes) }
          local resp, msg, code, sent = client:request(req)
          assert.is_nil(resp)
          assert.are.equal("protocol", code)
          assert.is_true(sent)
          assert.truthy(msg:find("folded", 1, true), msg)
        end
      end
      -- the client goes on
      assert.are.equal(200, assert(client:request({ url = h:playback("normal", NORMAL) })).status)
    end)

    it("joins a folded line to the header before it with a space (RFC 9112 5.2)", function()
      local url = h:playback("fold_later", "HTTP/1.1 200 OK\r\nX-A: one\r\n two\r\n\tthree  \r\n"
        .. "X-Empty:\r\n e\r\nX-Blank-Fold: b\r\n \t\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
      for _ = 1, 2 do
        local resp = assert(client:request({ url = url }))
        assert.are.equal("one two three", resp.headers["x-a"])
        assert.are.equal("e", resp.headers["x-empty"])
        assert.are.equal("b", resp.headers["x-blank-fold"])
        assert.are.equal("2", resp.headers["content-length"])
      end
    end)
  end)

  describe("bad input raises and sends nothing", function()
    local function req(t) return function() client:request(t) end end

    local marks = 0
    local function raises(pattern, fn)
      -- requests before and after the bad call; nothing may reach the server in between
      marks = marks + 1
      assert(client:request({ url = srv:url("/ok?before=" .. marks) }))
      local ok, err = pcall(fn)
      assert.is_false(ok, "expected an error matching " .. pattern)
      assert.truthy(tostring(err):find(pattern, 1, true), tostring(err))
      assert.is_nil(tostring(err):find("s3cr3t", 1, true), "a header value leaked: " .. tostring(err))
      assert(client:request({ url = srv:url("/ok?after=" .. marks) }))
      local after, lines = srv:wait_seen("/ok?after=" .. marks)
      assert.truthy(after, "the server never logged the request after the bad call")
      assert.truthy(lines[after - 1]:find("/ok?before=" .. marks, 1, true),
                    "the server saw something between: " .. tostring(lines[after - 1]))
    end

    it("wrong types", function()
      raises("req: must be a table", function() client:request("http://127.0.0.1/") end)
      raises("req.url: must be a string", req({}))
      raises("req.body: must be a string", req({ url = srv:url(), body = 1 }))
      raises("req.method: must be a string", req({ url = srv:url(), method = true }))
      raises("req.headers: must be a table", req({ url = srv:url(), headers = "x" }))
      raises('req.headers["X-A"]: value must be a string',
             req({ url = srv:url(), headers = { ["X-A"] = {} } }))
      raises("req.headers: names must be strings",
             req({ url = srv:url(), headers = { "s3cr3t" } }))
      raises("req.timeout: must be a number", req({ url = srv:url(), timeout = "1" }))
      raises("req: unknown option 'urll'", req({ urll = srv:url() }))
    end)

    it("NUL, CR or LF in header names or values", function()
      for _, v in ipairs({ "s3cr3t\r\nX-Injected: 1", "s3cr3t\n", "s3cr3t\0more" }) do
        raises('req.headers["Authorization"]: value must not contain NUL, CR or LF',
               req({ url = srv:url(), headers = { Authorization = v } }))
      end
      for _, name in ipairs({ "X-A\r\nX-B", "X-A\n", "X\0A", "X A", "X:A", "" }) do
        raises("req.headers: a header name is empty or holds characters not allowed",
               req({ url = srv:url(), headers = { [name] = "s3cr3t" } }))
      end
      raises('req.headers["Content-Length"]: is set by the client',
             req({ url = srv:url(), headers = { ["Content-Length"] = "1" } }))
    end)

    it("URLs that are not https, or plain http to a non-loopback host", function()
      raises("req.url: scheme must be https", req({ url = "ftp://127.0.0.1/x" }))
      raises("req.url: scheme must be https", req({ url = "file:///etc/passwd" }))
      raises("req.url: plain http is allowed only to loopback hosts",
             req({ url = "http://example.com/x" }))
      raises("req.url: plain http is allowed only to loopback hosts",
             req({ url = "http://127.0.0.1.example.com/x" }))
      raises("req.url: is not a valid absolute URL", req({ url = "/relative" }))
      raises("req.url: must not contain NUL", req({ url = srv:url() .. "\0x" }))
      -- loopback forms that are allowed
      local resp = assert(client:request({ url = ("http://localhost:%d/ok"):format(srv.port) }))
      assert.are.equal(200, resp.status)
    end)

    it("negative or zero timeouts and sizes", function()
      raises("req.timeout: must be a positive number", req({ url = srv:url(), timeout = -1 }))
      raises("req.connect_timeout: must be a positive number",
             req({ url = srv:url(), connect_timeout = -0.5 }))
      raises("req.timeout: must be a positive number", req({ url = srv:url(), timeout = 0 }))
      raises("req.timeout: must be a positive number",
             req({ url = srv:url(), timeout = 0 / 0 }))
      raises("req.max_response: must be a positive whole number",
             req({ url = srv:url(), max_response = -5 }))
      raises("req.method: must be upper-case letters",
             req({ url = srv:url(), method = "GET /x HTTP/1.1\r\n" }))
    end)

    it("one bad request in request_many stops all of them", function()
      raises("reqs[3].url: scheme must be https", function()
        client:request_many({ { url = srv:url("/ok") }, { url = srv:url("/ok") }, { url = "gopher://x/" } })
      end)
      raises("reqs[2]: must be a table", function() client:request_many({ { url = srv:url("/ok") }, 5 }) end)
    end)
  end)

  describe("options and lifetime", function()
    it("raises on unknown or invalid client options", function()
      assert.has_error(function() core.http_client({ verify = false }) end,
                       "http_client opts: unknown option 'verify'")
      assert.has_error(function() core.http_client({ timeout = -1 }) end)
      assert.has_error(function() core.http_client({ max_connections = 0 }) end)
      assert.has_error(function() core.http_client({ ca_file = 5 }) end)
      assert.has_error(function() core.http_client({ user_agent = "x\r\ny" }) end)
    end)

    it("checks the proxy option and reports an unreadable CA file as tls", function()
      assert.has_error(function() core.http_client({ proxy = "socks5://127.0.0.1:1080" }) end,
                       "http_client opts.proxy: must be an http:// or https:// proxy URL")
      assert.has_error(function() core.http_client({ proxy = "http://a b" }) end)
      local c = core.http_client({ ca_file = srv.dir .. "/no-such-ca.pem" })
      local resp, _, code, sent = c:request({ url = srv:https_url("/ok") })
      c:close()
      assert.is_nil(resp)
      assert.are.equal("tls", code)
      assert.is_false(sent)
    end)

    it("uses the client's timeouts by default", function()
      local c = core.http_client({ timeout = 0.2 })
      local _, _, code, sent = c:request({ url = srv:url("/stall") })
      c:close()
      assert.are.equal("timeout", code)
      assert.is_true(sent)
    end)

    it("closes idempotently and refuses use after close", function()
      local c = core.http_client()
      assert(c:request({ url = srv:url("/ok") }))
      c:close()
      c:close()
      assert.has_error(function() c:request({ url = srv:url("/ok") }) end,
                       "alimtalk.core http client: used after close()")
      assert.are.equal(1, c:stats().requests)
      assert.truthy(tostring(c):find("closed", 1, true))
    end)

    it("is collected without close()", function()
      for _ = 1, 20 do
        local c = core.http_client()
        assert(c:request({ url = srv:url("/ok") }))
      end
      collectgarbage()
      collectgarbage()
    end)

    if _VERSION == "Lua 5.4" then
      it("closes as a to-be-closed variable", function()
        local chunk = assert(load([[
          local core, url = ...
          local held
          do
            local c <close> = core.http_client()
            held = c
            assert(c:request({ url = url }))
          end
          return tostring(held)
        ]]))
        assert.truthy(chunk(core, srv:url("/ok")):find("closed", 1, true))
      end)
    end
  end)
end)
