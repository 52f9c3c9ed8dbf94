-- alimtalk.queue from an OpenResty handler: enqueue runs on the cosocket Redis client (the
-- seam's resty backend), with the same checks and the same once-per-id entries; a worker
-- outside nginx then sends what the handler queued.
local redis_server = require "support.redis"
local nginx = require "support.nginx"
local fs = require "support.fs"
local cjson = require "cjson"
local alimtalk = require "alimtalk"
local queue = require "alimtalk.queue"

local ROOT = require("support.sandbox").root

describe("alimtalk.queue inside nginx", function()
  local srv, ngx_srv, http

  setup(function()
    srv = redis_server.start({ password = "ngx-queue-pw" })
    local dir = fs.tmpdir("alimtalk-queue-ngx")
    fs.sh("chmod 755 " .. fs.q(dir))
    ngx_srv = nginx.start({ dir = dir, config = function(d, ports)
      return nginx.head(d) .. "  access_log off;\n" .. ([[
  lua_package_path "ROOT/lua/?.lua;ROOT/lua/?/init.lua;;";
  lua_package_cpath "ROOT/build/luajit/?.so;;";
  init_by_lua_block {
    client = require("alimtalk").new{ sandbox = { profile = "bizmessage", outbox = false } }
  }
  server {
    listen 127.0.0.1:PORT;
    location = /order {
      content_by_lua_block {
        local cjson = require "cjson"
        local q, err = require("alimtalk.queue").new{ redis = "redis://:ngx-queue-pw@127.0.0.1:RPORT",
                                                     name = "web", client = client }
        if not q then ngx.status = 503 ngx.say(cjson.encode({ error = tostring(err) })) return end
        local a = ngx.var
        local t, e = q:enqueue{ id = a.arg_id, to = a.arg_to, content = "order " .. a.arg_id }
        local backend = q.conn.backend_name
        q:close()
        if not t then
          ngx.status = 400
          ngx.say(cjson.encode({ code = e.code, field = e.field }))
          return
        end
        ngx.say(cjson.encode({ id = t.id, entry = t.entry, duplicate = t.duplicate or false,
                               backend = backend }))
      }
    }
  }
}
]]):gsub("ROOT", ROOT):gsub("RPORT", tostring(srv.port)):gsub("PORT", tostring(ports[1]))
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
    return resp.status, cjson.decode(resp.body)
  end

  it("enqueues on cosockets, once per id, refusing invalid messages", function()
    local st, out = get("/order?id=o-1&to=010-1234-5678")
    assert.equal(200, st)
    assert.equal("resty", out.backend)
    assert.equal("o-1", out.id)
    assert.is_false(out.duplicate)
    local st2, again = get("/order?id=o-1&to=010-1234-5678")
    assert.equal(200, st2)
    assert.is_true(again.duplicate)
    assert.equal(out.entry, again.entry)
    local st3, bad = get("/order?id=o-2&to=123")
    assert.equal(400, st3)
    assert.equal("BAD_PHONE", bad.code)
    assert.equal("to", bad.field)
    for i = 3, 12 do assert.equal(200, (get("/order?id=o-" .. i .. "&to=010-1234-56" .. (10 + i)))) end

    -- a worker outside nginx (hiredis) sends what the handlers queued
    local client = assert(alimtalk.new{ sandbox = { profile = "bizmessage", outbox = false } })
    local q = assert(queue.new{ redis = "redis://:ngx-queue-pw@127.0.0.1:" .. srv.port, name = "web",
                                client = client })
    local stats = assert(q:work{ until_empty = true, block = 0.05 })
    assert.equal(11, stats.accepted)
    assert.equal("accepted", q:result("o-1").state)
    local _, e = q:result("o-2")
    assert.equal("NOT_FOUND", e.code)
    q:close()
    client:close()
  end)
end)
