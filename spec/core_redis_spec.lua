-- alimtalk.core.redis_connect (hiredis) against a private redis-server (spec/support/redis.lua).
local core = require "alimtalk.core"
local redis_server = require "support.redis"
local fs = require "support.fs"

local NULL = core.redis_null

describe("core.redis_connect", function()
  local srv, conn

  setup(function() srv = redis_server.start() end)
  teardown(function() if srv then srv:stop() end end)

  before_each(function()
    conn = assert(core.redis_connect({ host = "127.0.0.1", port = srv.port, timeout = 5 }))
    assert.equal("OK", conn:command("FLUSHALL"))
  end)
  after_each(function() conn:close() end)

  describe("replies", function()
    it("gives status, integer, bulk and nil replies as Lua values", function()
      assert.equal("PONG", conn:command("PING"))
      assert.equal("OK", conn:command("SET", "k", "v"))
      assert.equal("v", conn:command("GET", "k"))
      assert.equal(NULL, conn:command("GET", "missing"))
      assert.equal(1, conn:command("DEL", "k"))
      assert.equal(math.type and "integer" or "number", (math.type or type)(conn:command("INCR", "n")))
    end)

    it("keeps binary strings with NUL and every byte value intact, both ways", function()
      local bytes = {}
      for i = 0, 255 do bytes[#bytes + 1] = string.char(i) end
      local blob = table.concat(bytes) .. "\0\r\n\0"
      assert.equal("OK", conn:command("SET", "bin\0key", blob))
      assert.equal(blob, conn:command("GET", "bin\0key"))
      assert.equal(#blob, conn:command("STRLEN", "bin\0key"))
      assert.equal("", (conn:command("GET", "bin")) == NULL and "" or "wrong key matched")
    end)

    it("builds nested arrays, with nil elements as redis_null and error elements as {err=...}", function()
      local r = conn:command("EVAL", [[
        return { 1, "two", { 3, { "four", false } }, redis.error_reply("E5 nested"), {} }
      ]], 0)
      assert.same({ 1, "two", { 3, { "four", NULL } }, { err = "E5 nested" }, {} }, r)
      assert.same({}, conn:command("LRANGE", "nothing", 0, -1))
    end)

    it("returns 64-bit integers exactly on Lua 5.4", function()
      if not math.type then return end -- LuaJIT numbers are doubles: exact to 2^53 only
      assert.equal(math.maxinteger, conn:command("INCRBY", "big", math.maxinteger))
      assert.equal(math.mininteger + 1, conn:command("DECRBY", "small", math.maxinteger))
    end)

    it("answers an error reply with nil, the server's message and 'redis', and stays usable", function()
      conn:command("SET", "s", "x")
      local r, msg, code = conn:command("LPUSH", "s", "y")
      assert.is_nil(r)
      assert.equal("redis", code)
      assert.matches("^WRONGTYPE", msg)
      assert.is_true(conn:connected())
      assert.equal("PONG", conn:command("PING"))
    end)
  end)

  describe("arguments", function()
    it("writes integers in full (2^53 too, on LuaJIT) and other numbers with 17 digits", function()
      conn:command("SET", "i", 2 ^ 53)
      assert.equal("9007199254740992", conn:command("GET", "i"))
      conn:command("SET", "i", -42)
      assert.equal("-42", conn:command("GET", "i"))
      conn:command("SET", "f", 0.1)
      assert.equal(0.1, tonumber(conn:command("GET", "f")))
      assert.equal(1733580000123, conn:command("INCRBY", "ms", 1733580000123))
    end)

    it("raises on an argument that is neither a string nor a number", function()
      assert.has_error(function() conn:command("SET", "k", true) end,
        "redis command: argument 3 must be a string or a number, got boolean")
      assert.has_error(function() conn:command("SET", "k", {}) end)
      assert.has_error(function() conn:command() end)
      assert.equal(NULL, conn:command("GET", "k"))
    end)

    it("takes commands of many arguments", function()
      local args = { "RPUSH", "many" }
      for i = 1, 5000 do args[#args + 1] = i end
      assert.equal(5000, conn:command((table.unpack or unpack)(args)))
      assert.equal("5000", conn:command("LINDEX", "many", -1))
    end)
  end)

  describe("pipeline", function()
    it("sends 1000 commands and reads their 1000 replies in order", function()
      local cmds = {}
      for i = 1, 1000 do cmds[i] = { "INCRBY", "counter", i } end
      local t0 = core.monotonic()
      local r = assert(conn:pipeline(cmds))
      local took = core.monotonic() - t0
      assert.equal(1000, #r)
      local sum = 0
      for i = 1, 1000 do
        sum = sum + i
        assert.equal(sum, r[i])
      end
      assert.is_true(took < 2, "1000 pipelined commands took " .. took .. " s")
    end)

    it("puts an error reply in its place as {err=...} and goes on", function()
      local r = assert(conn:pipeline({ { "SET", "a", "1" }, { "NOSUCHCMD" }, { "GET", "a" },
                                       { "GET", "none" }, { "LRANGE", "a", 0, 1 } }))
      assert.equal("OK", r[1])
      assert.matches("^ERR unknown command", r[2].err)
      assert.equal("1", r[3])
      assert.equal(NULL, r[4])
      assert.matches("^WRONGTYPE", r[5].err)
    end)

    it("checks every command before sending any: a misuse raises and nothing runs", function()
      assert.has_error(function()
        conn:pipeline({ { "SET", "p1", "x" }, { "SET", "p2", "y" }, { "SET", "p3", false } })
      end, "redis pipeline: command 3 argument 3 must be a string or a number, got boolean")
      assert.has_error(function() conn:pipeline({ { "SET", "p1", "x" }, "GET" }) end,
        "redis pipeline: command 2 must be a table, got string")
      assert.has_error(function() conn:pipeline({ {} }) end, "redis pipeline: command 1 is empty")
      assert.same({ 0, "PONG" }, conn:pipeline({ { "EXISTS", "p1", "p2" }, { "PING" } }))
    end)

    it("answers an empty list with an empty list", function()
      assert.same({}, conn:pipeline({}))
    end)
  end)

  describe("failures", function()
    it("answers a refused connection with nil, a message naming the address, and 'connect'", function()
      local port = require("alimtalk.sandbox.server").random_port()
      local c, msg, code = core.redis_connect({ host = "127.0.0.1", port = port })
      assert.is_nil(c)
      assert.equal("connect", code)
      assert.matches("^redis connect to 127%.0%.0%.1:%d+: Connection refused", msg)
    end)

    it("times out a command past its timeout, closes the connection, and answers 'closed' after", function()
      local c = assert(core.redis_connect({ host = "127.0.0.1", port = srv.port, timeout = 0.2 }))
      local t0 = core.monotonic()
      local r, msg, code = c:command("DEBUG", "SLEEP", "1")
      local took = core.monotonic() - t0
      assert.is_nil(r)
      assert.equal("timeout", code)
      assert.equal("redis command: timed out", msg)
      assert.is_true(took >= 0.15 and took < 0.8, "took " .. took)
      assert.is_false(c:connected())
      r, msg, code = c:command("PING")
      assert.is_nil(r)
      assert.equal("closed", code)
      assert.equal("redis: the connection is closed", msg)
      assert.same({ nil, "redis: the connection is closed", "closed" }, { c:pipeline({ { "PING" } }) })
      c:close()
      fs.sleep(1) -- the server is still asleep: let it wake before the next test
    end)

    it("gives an io error, not a crash, when the server dies under a connection", function()
      local own = redis_server.start()
      local a = assert(core.redis_connect({ host = "127.0.0.1", port = own.port, timeout = 5 }))
      local b = assert(core.redis_connect({ host = "127.0.0.1", port = own.port, timeout = 5 }))
      assert.equal("PONG", a:command("PING"))
      own:kill()
      local r, msg, code = a:command("PING")
      assert.is_nil(r)
      assert.equal("io", code)
      assert.matches("^redis command: ", msg)
      assert.is_false(a:connected())
      -- a write of megabytes to the dead socket: EPIPE, and SIGPIPE, which must not kill us
      local big = string.rep("x", 4 * 1024 * 1024)
      r, msg, code = b:pipeline({ { "SET", "a", big }, { "SET", "b", big } })
      assert.is_nil(r)
      assert.equal("io", code)
      assert.is_string(msg)
      a:close()
      b:close()
      own:stop()
    end)

    it("refuses an array reply of over 1,048,576 elements before allocating it", function()
      -- hiredis 0.14 allocates the element table from the announced count: found by the
      -- redis fuzz target, where "*1000000000\r\n" alone cost 8 GB and 30 s
      -- (spec/fuzz/corpus/redis/huge-array)
      local script = "local t = {} for i = 1, tonumber(ARGV[1]) do t[i] = 1 end return t"
      local r = assert(conn:command("EVAL", script, 0, 1048576))
      assert.equal(1048576, #r)
      local none, msg, code = conn:command("EVAL", script, 0, 1048577)
      assert.is_nil(none)
      assert.equal("protocol", code)
      assert.equal("redis command: Multi-bulk length out of range (over 1048576 elements)", msg)
      assert.is_false(conn:connected())
    end)

    it("connects over a Unix socket", function()
      local c = assert(core.redis_connect({ path = srv.socket }))
      assert.equal("PONG", c:command("PING"))
      c:close()
      local none, msg, code = core.redis_connect({ path = srv.socket .. ".missing" })
      assert.is_nil(none)
      assert.equal("connect", code)
      assert.matches("redis connect to .*%.missing: No such file or directory", msg)
    end)
  end)

  describe("options and lifetime", function()
    it("raises on unknown options and bad values", function()
      assert.has_error(function() core.redis_connect({ host = "127.0.0.1", prot = 1 }) end,
        "redis_connect opts: unknown option 'prot'")
      assert.has_error(function() core.redis_connect({ host = "127.0.0.1", port = 70000 }) end,
        "redis_connect opts.port: must be an integer from 1 to 65535")
      assert.has_error(function() core.redis_connect({ host = "127.0.0.1", timeout = 0 }) end,
        "redis_connect opts.timeout: must be more than 0 and at most 86400 seconds")
      assert.has_error(function() core.redis_connect({ host = "127.0.0.1", path = "/x" }) end)
      assert.has_error(function() core.redis_connect({}) end)
    end)

    it("closes once however often close is called, and is named by its metatable", function()
      local c = assert(core.redis_connect({ host = "127.0.0.1", port = srv.port }))
      assert.equal("alimtalk.core.redis_conn", getmetatable(c).__name)
      assert.matches("^alimtalk.core.redis_conn %(open%)", tostring(c))
      c:close()
      c:close()
      assert.matches("^alimtalk.core.redis_conn %(closed%)", tostring(c))
      assert.is_false(c:connected())
      getmetatable(c).__gc(c)
    end)

    it("frees connections left to the garbage collector", function()
      local before = tonumber(conn:command("INFO", "clients"):match("connected_clients:(%d+)"))
      for _ = 1, 50 do assert(core.redis_connect({ host = "127.0.0.1", port = srv.port })) end
      collectgarbage()
      collectgarbage()
      fs.sleep(0.1)
      local after = tonumber(conn:command("INFO", "clients"):match("connected_clients:(%d+)"))
      assert.equal(before, after)
    end)
  end)
end)
