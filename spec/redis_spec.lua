-- alimtalk.redis: URLs, AUTH and SELECT, call/pipeline/eval on the hiredis backend against a
-- private redis-server, and the resty backend inside a private nginx.
local redis = require "alimtalk.redis"
local errors = require "alimtalk.errors"
local redis_server = require "support.redis"
local nginx = require "support.nginx"
local fs = require "support.fs"
local cjson = require "cjson"

local ROOT = assert(io.popen("pwd")):read("*l")
local PASSWORD = "redis-spec-pw-9c1e"

-- Poll until fn() is true, for at most 5 s.
local function eventually(fn)
  for _ = 1, 500 do
    if fn() then return true end
    fs.sleep(0.01)
  end
  return false
end

-- An error table with these fields (and the alimtalk.errors metatable).
local function assert_err(err, fields)
  assert.is_true(errors.is(err), "not an alimtalk error: " .. tostring(err))
  for k, v in pairs(fields) do
    if k == "message" then assert.matches(v, err.message)
    else assert.equal(v, err[k], k) end
  end
end

describe("alimtalk.redis", function()
  describe("parse_url", function()
    it("reads host, port, database, user and password, and rediss:// as TLS", function()
      assert.same({ host = "127.0.0.1", port = 6380, db = 2, tls = false },
        redis.parse_url("redis://127.0.0.1:6380/2"))
      assert.same({ host = "cache.local", tls = true }, redis.parse_url("rediss://cache.local"))
      assert.same({ host = "::1", port = 7000, tls = false }, redis.parse_url("redis://[::1]:7000/"))
      assert.same({ host = "h", username = "alice", password = "p@ss:w/rd", tls = false },
        redis.parse_url("redis://alice:p%40ss%3Aw%2Frd@h"))
      assert.same({ host = "h", password = "only", tls = false }, redis.parse_url("redis://:only@h"))
      assert.same({ host = "h", password = "bare", tls = false }, redis.parse_url("redis://bare@h"))
      assert.same({ host = "h", db = 0, tls = false }, redis.parse_url("REDIS://h/0"))
    end)

    it("names the URL and the reason for a bad one, never repeating its password", function()
      local cases = {
        { "127.0.0.1:6379", "not a URL" },
        { "http://h:6379", "unsupported scheme 'http'" },
        { "redis://", "the URL has no host" },
        { "redis://:hunter2secret@", "the URL has no host" },
        { "redis://h:0", "port must be a number from 1 to 65535, got '0'" },
        { "redis://:hunter2secret@h:99999", "port must be a number from 1 to 65535" },
        { "redis://h:63x9", "port must be a number" },
        { "redis://h/db1", "path must be a database number" },
        { "redis://h/1/2", "path must be a database number" },
        { "redis://h?db=1", "query and fragment parts are not supported" },
        { "redis://h o/", "host has characters" },
      }
      for _, c in ipairs(cases) do
        local u, err = redis.parse_url(c[1])
        assert.is_nil(u, c[1])
        assert_err(err, { code = "BAD_OPTION", field = "url" })
        assert.is_truthy(err.message:find(c[2], 1, true), c[1] .. " -> " .. err.message)
        assert.is_falsy(tostring(err):find("hunter2secret", 1, true))
      end
      local conn, err = redis.connect("redis://h:0")
      assert.is_nil(conn)
      assert_err(err, { code = "BAD_OPTION", field = "url" })
    end)

    it("refuses rediss:// outside nginx, saying why (hiredis 0.14 has no TLS)", function()
      local conn, err = redis.connect("rediss://127.0.0.1:6380")
      assert.is_nil(conn)
      assert_err(err, { code = "BAD_OPTION", field = "url", message = "no TLS support" })
    end)

    it("raises on unknown options, wrong types and unknown backends", function()
      assert.has_error(function() redis.connect({ url = "redis://h", tiemout = 1 }) end,
        "alimtalk.redis.connect: unknown option 'tiemout'")
      assert.has_error(function() redis.connect({ port = "6379" }) end,
        "alimtalk.redis.connect: option 'port' must be a number, got string")
      assert.has_error(function() redis.connect({ backend = "memcached" }) end)
      assert.has_error(function() redis.connect(42) end)
      local _, err = redis.connect({ db = -1 })
      assert_err(err, { code = "BAD_OPTION", field = "db" })
      _, err = redis.connect({ timeout = 0 })
      assert_err(err, { code = "BAD_OPTION", field = "timeout" })
      _, err = redis.connect({ username = "alice" })
      assert_err(err, { code = "BAD_OPTION", field = "password" })
      _, err = redis.connect({ password_env = "ALIMTALK_SPEC_SURELY_UNSET" })
      assert_err(err, { code = "BAD_OPTION", field = "password_env",
                        message = "ALIMTALK_SPEC_SURELY_UNSET is not set" })
    end)
  end)

  describe("on hiredis", function()
    local srv, conn

    setup(function() srv = redis_server.start({ password = PASSWORD }) end)
    teardown(function() if srv then srv:stop() end end)
    before_each(function()
      conn = assert(redis.connect({ url = srv.url, password = PASSWORD, timeout = 5 }))
      assert.equal("OK", conn:call("FLUSHALL"))
    end)
    after_each(function() conn:close() end)

    it("authenticates and calls, with the same reply shapes as the core", function()
      assert.is_true(conn:ping())
      assert.equal("OK", conn:call("SET", "k", "a\0b"))
      assert.equal("a\0b", conn:call("GET", "k"))
      assert.equal(redis.null, conn:call("GET", "nope"))
      assert.equal(3, conn:call("RPUSH", "l", 1, 2, 3))
      assert.same({ "1", "2", "3" }, conn:call("LRANGE", "l", 0, -1))
      local r, err = conn:call("INCR", "l")
      assert.is_nil(r)
      assert_err(err, { code = "REDIS", reason = "redis", redis_code = "WRONGTYPE" })
      assert.is_true(conn:connected())
      assert.matches("^alimtalk.redis.conn %(127.0.0.1:%d+, hiredis, open%)$", tostring(conn))
    end)

    it("answers a wrong password with an auth error that does not show the password", function()
      local c, err = redis.connect({ url = srv.url, password = "wrong-secret-77" })
      assert.is_nil(c)
      assert_err(err, { code = "REDIS", reason = "auth", field = "password", redis_code = "WRONGPASS" })
      assert.is_falsy(tostring(err):find("wrong-secret-77", 1, true))
      c, err = redis.connect(srv.url:gsub("//", "//:wrong-secret-77@"))
      assert.is_nil(c)
      assert_err(err, { reason = "auth" })
      assert.is_falsy(tostring(err):find("wrong-secret-77", 1, true))
      -- no password at all: the first command says so
      c = assert(redis.connect({ url = srv.url }))
      local r
      r, err = c:call("GET", "k")
      assert.is_nil(r)
      assert_err(err, { code = "REDIS", reason = "redis", redis_code = "NOAUTH" })
      c:close()
    end)

    it("logs in as an ACL user from the URL's userinfo", function()
      assert.equal("OK", conn:call("ACL", "SETUSER", "alice", "on", ">alice-pw", "~*", "+@all"))
      local c = assert(redis.connect(srv.url:gsub("//", "//alice:alice-pw@")))
      assert.equal("alice", c:call("ACL", "WHOAMI"))
      c:close()
      local _, err = redis.connect(srv.url:gsub("//", "//alice:nope@"))
      assert_err(err, { reason = "auth", redis_code = "WRONGPASS" })
      conn:call("ACL", "DELUSER", "alice")
    end)

    it("selects the URL's database", function()
      local c3 = assert(redis.connect({ url = srv.url .. "/3", password = PASSWORD }))
      c3:call("SET", "where", "db3")
      assert.equal(redis.null, conn:call("GET", "where"))
      assert.equal("OK", conn:call("SELECT", 3))
      assert.equal("db3", conn:call("GET", "where"))
      c3:close()
      local c, err = redis.connect({ url = srv.url .. "/9999", password = PASSWORD })
      assert.is_nil(c)
      assert_err(err, { code = "REDIS", reason = "redis",
                        message = "^SELECT 9999: ERR DB index is out of range" })
    end)

    it("reads the password from password_env or ALIMTALK_REDIS_PASSWORD", function()
      local code = "local r = require('alimtalk.redis'); local c, e = r.connect(arg[1] and "
        .. "{ url = arg[1], password_env = 'MY_REDIS_PW' } or '" .. srv.url .. "'); "
        .. "if not c then print(tostring(e)) os.exit(1) end print(c:call('PING')) c:close()"
      local env = ("LUA_PATH='%s/lua/?.lua;%s/lua/?/init.lua;;' LUA_CPATH=%s "):format(ROOT, ROOT,
        fs.q(package.cpath))
      local f = os.tmpname()
      fs.write(f, code)
      local lua = " " .. fs.RUNTIME .. " " .. f
      local rc, out = fs.capture(env .. "ALIMTALK_REDIS_PASSWORD=" .. PASSWORD .. lua)
      assert.equal(0, rc, out)
      assert.matches("PONG", out)
      rc, out = fs.capture(env .. "MY_REDIS_PW=" .. PASSWORD .. lua .. " " .. srv.url)
      assert.equal(0, rc, out)
      rc, out = fs.capture(env .. "MY_REDIS_PW=not-it-3" .. lua .. " " .. srv.url)
      assert.equal(1, rc, out)
      assert.matches("WRONGPASS", out)
      assert.is_falsy(out:find("not-it-3", 1, true))
      os.remove(f)
    end)

    it("pipelines 1000 commands, error replies in place", function()
      local cmds = {}
      for i = 1, 999 do cmds[i] = { "HSET", "h", "f" .. i, i } end
      cmds[1000] = { "LPUSH", "h", "x" }
      local r = assert(conn:pipeline(cmds))
      assert.equal(1000, #r)
      for i = 1, 999 do assert.equal(1, r[i]) end
      assert.matches("^WRONGTYPE", r[1000].err)
      assert.equal(999, conn:call("HLEN", "h"))
    end)

    it("sends without waiting and receives every reply later, in order", function()
      assert.is_true(conn:send({ { "DEL", "s" }, { "RPUSH", "s", "a" } }))
      -- the commands run while the caller works: another connection sees them before receive
      local other = assert(redis.connect({ url = srv.url, password = PASSWORD }))
      assert(eventually(function() return other:call("LLEN", "s") == 1 end))
      assert.is_true(conn:send({ { "RPUSH", "s", "b" }, { "HGET", "s", "f" } }))
      local r = assert(conn:receive())
      assert.equal(4, #r)
      assert.same({ 1, 2 }, { r[2], r[3] })
      assert.matches("^WRONGTYPE", r[4].err)
      assert.same({}, assert(conn:receive()))
      -- replies nobody received are dropped by the next call, which gets its own
      assert.is_true(conn:send({ { "RPUSH", "s", "c" } }))
      assert.equal(3, conn:call("LLEN", "s"))
      assert.has_error(function() conn:send({ { "PING" }, "GET" }) end,
        "redis send: command 2 must be a table, got string")
      assert.same({}, assert(conn:receive()))
      other:close()
    end)

    it("runs scripts by digest, loading them once and again after SCRIPT FLUSH", function()
      local script = "return { redis.call('INCRBY', KEYS[1], ARGV[1]), ARGV[2] }"
      assert.same({ 5, "x" }, conn:eval(script, { "n" }, { 5, "x" }))
      local sha = conn:script_load(script)
      assert.matches("^%x+$", sha)
      assert.equal(40, #sha)
      assert.same({ 1 }, conn:call("SCRIPT", "EXISTS", sha))
      assert.same({ 7, "y" }, conn:pipeline({ { "EVALSHA", sha, 1, "n", 2, "y" } })[1])
      assert.equal("OK", conn:call("SCRIPT", "FLUSH"))
      assert.same({ 10, "z" }, conn:eval(script, { "n" }, { 3, "z" }))
      local r, err = conn:eval("return redis.error_reply('QUEUE_FULL no room')", {}, {})
      assert.is_nil(r)
      assert_err(err, { code = "REDIS", reason = "redis", redis_code = "QUEUE_FULL" })
      assert.is_true(conn:connected())
    end)

    it("refuses pub/sub and MONITOR, which would turn the connection into a stream", function()
      assert.has_error(function() conn:call("SUBSCRIBE", "ch") end)
      assert.has_error(function() conn:pipeline({ { "PING" }, { "monitor" } }) end)
      assert.is_true(conn:ping())
    end)

    it("times out, then answers 'closed'", function()
      local c = assert(redis.connect({ url = srv.url, password = PASSWORD, timeout = 0.2 }))
      local r, err = c:call("DEBUG", "SLEEP", "0.6")
      assert.is_nil(r)
      assert_err(err, { code = "REDIS", reason = "timeout" })
      assert.is_false(c:connected())
      r, err = c:call("PING")
      assert.is_nil(r)
      assert_err(err, { reason = "closed" })
      assert.matches("closed%)$", tostring(c))
      c:close()
      c:close()
      fs.sleep(0.6)
    end)
  end)

  describe("without a server", function()
    it("answers connect for a port nobody listens on", function()
      local port = require("alimtalk.sandbox.server").random_port()
      local c, err = redis.connect("redis://127.0.0.1:" .. port)
      assert.is_nil(c)
      assert_err(err, { code = "REDIS", reason = "connect", message = "Connection refused" })
    end)

    it("answers io when the server is killed under the connection, and connects after a restart", function()
      local srv = redis_server.start({ appendonly = true, appendfsync = "always" })
      local c = assert(redis.connect(srv.url))
      assert.equal("OK", c:call("SET", "kept", "yes"))
      srv:kill()
      local r, err = c:call("GET", "kept")
      assert.is_nil(r)
      assert_err(err, { code = "REDIS", reason = "io" })
      assert.is_false(c:connected())
      srv:start_again()
      c = assert(redis.connect(srv.url))
      assert.equal("yes", c:call("GET", "kept"))
      c:close()
      srv:stop()
    end)
  end)

  describe("inside nginx (lua-resty-redis on cosockets)", function()
    local srv, ngx_srv, http

    setup(function()
      srv = redis_server.start({ password = PASSWORD })
      local dir = fs.tmpdir("alimtalk-redis-ngx")
      fs.sh("chmod 755 " .. fs.q(dir))
      ngx_srv = nginx.start({ dir = dir, config = function(d, ports)
        return nginx.head(d) .. "  access_log off;\n" .. ([[
  lua_package_path "ROOT/lua/?.lua;ROOT/lua/?/init.lua;;";
  lua_package_cpath "ROOT/build/luajit/?.so;;";
  server {
    listen 127.0.0.1:PORT;
    location = /t {
      content_by_lua_block {
        local cjson = require "cjson"
        local redis = require "alimtalk.redis"
        local out = {}
        local url = "redis://:PASSWORD@127.0.0.1:RPORT/1"
        local conn, err = redis.connect({ url = url, timeout = 0.3 })
        if not conn then ngx.say(cjson.encode({ connect = tostring(err) })) return end
        out.backend = conn.backend_name
        out.reused = conn.raw:reused()
        out.set = conn:call("SET", "k", "v\0w")
        out.get = conn:call("GET", "k")
        out.null = conn:call("GET", "missing") == redis.null
        local _, e = conn:call("LPUSH", "k", "x")
        out.wrongtype = e and e.redis_code
        out.nested = conn:call("EVAL", "return { 1, { 'a', false }, redis.error_reply('E2 x') }", 0)
        out.nested[2][2] = out.nested[2][2] == redis.null and "NULL" or "?"
        local cmds = {}
        for i = 1, 1000 do cmds[i] = { "INCRBY", "n", i } end
        cmds[1001] = { "HGET", "k", "f" }
        local r = conn:pipeline(cmds)
        out.pipeline_n, out.pipeline_last, out.pipeline_err = #r, r[1000], r[1001].err
        conn:send({ { "DEL", "s" }, { "RPUSH", "s", "a" } })
        conn:send({ { "HGET", "s", "f" } })
        local sr = conn:receive()
        out.sent = { sr[2], sr[3].err and "WRONGTYPE" }
        conn:send({ { "RPUSH", "s", "b" } })
        out.sent_len = conn:call("LLEN", "s")   -- a kept command runs before the next call
        out.eval = conn:eval("return redis.call('GET', KEYS[1])", { "k" }, {})
        out.big = conn:call("SET", "big", 2^53) and conn:call("GET", "big")
        out.ping = conn:ping()
        conn:call("DEL", "n")
        if ngx.var.arg_sleep then
          local _, te = conn:call("DEBUG", "SLEEP", "0.8")
          out.timeout = te and te.reason
          out.connected_after = conn:connected()
        end
        if ngx.var.arg_multi then out.multi = conn:call("MULTI") end
        if ngx.var.arg_select then out.select = conn:call("SELECT", 1) end
        conn:close()
        local _, ae = redis.connect("redis://:wrong-ngx-pw@127.0.0.1:RPORT")
        out.auth = ae and ae.reason
        out.auth_text = tostring(ae)
        ngx.say(cjson.encode(out))
      }
    }
  }
}
]]):gsub("ROOT", ROOT):gsub("RPORT", tostring(srv.port)):gsub("PASSWORD", PASSWORD)
          :gsub("PORT", tostring(ports[1]))
      end })
      http = require("alimtalk.core").http_client({ timeout = 10 })
    end)

    teardown(function()
      if http then http:close() end
      if ngx_srv then ngx_srv:stop() end
      if srv then srv:stop() end
    end)

    local function get(path)
      local resp = assert(http:request({ url = "http://127.0.0.1:" .. ngx_srv.port .. path }))
      assert.equal(200, resp.status, resp.body)
      return cjson.decode(resp.body)
    end

    it("calls and pipelines with the same replies and errors as hiredis, and pools connections", function()
      local out = get("/t")
      assert.equal("resty", out.backend)
      assert.is_false(out.reused)
      assert.equal("OK", out.set)
      assert.equal("v\0w", out.get)
      assert.is_true(out.null)
      assert.equal("WRONGTYPE", out.wrongtype)
      assert.same({ 1, { "a", "NULL" }, { err = "E2 x" } }, out.nested)
      assert.equal(1001, out.pipeline_n)
      assert.equal(500500, out.pipeline_last)
      assert.matches("^WRONGTYPE", out.pipeline_err)
      assert.same({ 1, "WRONGTYPE" }, out.sent)
      assert.equal(2, out.sent_len)
      assert.equal("v\0w", out.eval)
      assert.equal("9007199254740992", out.big)
      assert.is_true(out.ping)
      assert.equal("auth", out.auth)
      assert.is_falsy(out.auth_text:find("wrong-ngx-pw", 1, true))
      -- the second request takes the first one's connection from the pool: no AUTH, db 1 kept
      out = get("/t")
      assert.is_true(out.reused)
      assert.equal("v\0w", out.get)
    end)

    it("does not pool a connection left in a transaction or switched to another database", function()
      for _, q in ipairs({ "multi", "select" }) do
        local out = get("/t?" .. q .. "=1")
        assert.equal("OK", out[q])
        out = get("/t")
        assert.is_false(out.reused, q)
        assert.equal("v\0w", out.get)
      end
      assert.is_true(get("/t").reused)
    end)

    it("times out a command and closes the connection rather than pooling it", function()
      local out = get("/t?sleep=1")
      assert.equal("timeout", out.timeout)
      assert.is_false(out.connected_after)
      fs.sleep(0.8)
      out = get("/t")
      assert.equal("v\0w", out.get)
    end)
  end)
end)
