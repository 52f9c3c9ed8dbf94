-- Hostile servers (spec/support/hostile.lua) against a SENS client on both transports: the
-- curl transport (alimtalk.core over libcurl) and the cosocket transport inside a real nginx.
-- Each case must end in time (the timeout bounds the whole request, a trickle included), with
-- a clear code, and with the status a caller can act on: never accepted for a failure,
-- uncertain where the request went out, not_sent where nothing could have been read by the
-- server (TLS refused), and never sent twice.
local hostile = require "support.hostile"
local nginx = require "support.nginx"
local fs = require "support.fs"
local cjson = require "cjson"

local ROOT = assert(io.popen("pwd")):read("*l")
local TEMPLATES = ROOT .. "/spec/fixtures/templates.json"
local TIMEOUT = 1.5   -- over the trickle's one second a byte: only a whole-request bound ends it

-- What each case must give: status, code (nil: any), and whether the server read the request.
local EXPECT = {
  ok          = { "accepted", "A000" },
  http10      = { "accepted", "A000" },    -- a body delimited by the close is read whole
  stall       = { "uncertain", "timeout" },
  trickle     = { "uncertain", "timeout" },
  big         = { "uncertain", "too_large" },
  big_close   = { "uncertain", "too_large" },
  redirect    = { "uncertain", "302" },     -- not followed; the POST may have been acted on
  reset       = { "uncertain" },            -- "connect" (curl) / "protocol" (cosocket)
  http10_cut  = { "uncertain", "200" },     -- an unreadable answer
  tls_ok      = { "accepted", "A000" },
  self_signed = { "not_sent", "tls" },
  wrong_host  = { "not_sent", "tls" },
  expired     = { "not_sent", "tls" },
}
local CASES = {}
for _, c in ipairs(hostile.PLAIN) do CASES[#CASES + 1] = c end
for _, c in ipairs(hostile.TLS) do CASES[#CASES + 1] = c end

local SENS = { access_key = "HOSTILEKEY", secret_key = "hostile-secret",
               service_id = "ncp:kkobizmsg:kr:0000001:hostile", plus_friend_id = "@hostile" }

local MESSAGE = { to = "01012345678", template = "welcome", vars = { name = "홍길동", date = "2026-12-07" } }

local function check(case, r, elapsed, reads)
  local want = EXPECT[case]
  local what = case .. ": " .. cjson.encode(r)
  assert.are.equal(want[1], r.status, what)
  if want[2] then assert.are.equal(want[2], r.code, what) end
  assert.is_string(r.message, what)
  -- nothing hangs: a stall or a trickle ends at the timeout, the others at once
  assert.is_true(elapsed < TIMEOUT + 1.5, what .. string.format(" took %.2f s", elapsed))
  if r.status == "uncertain" then
    -- went out once and was never resent (SENS has no serial)
    assert.are.equal(1, r.attempts, what)
    if reads then assert.are.equal(1, reads, what .. " (server reads)") end
  end
end

describe("hostile servers", function()
  local h

  setup(function()
    h = hostile.start()
  end)

  teardown(function()
    if h then h:stop() end
  end)

  describe("through the curl transport", function()
    for _, case in ipairs(CASES) do
      it(case, function()
        local before = h:hits(case)
        local conf = { base_url = h:url(case), ca_file = h.ca_file, timeout = TIMEOUT,
                       connect_timeout = TIMEOUT, max_response = 65536 }
        for k, v in pairs(SENS) do conf[k] = v end
        local client = assert(require("alimtalk").new{ provider = "sens", sens = conf,
          templates = TEMPLATES, retry = { max_attempts = 2, base_delay = 0.01 } })
        local t0 = require("alimtalk.core").monotonic()
        local r = assert(client:send(MESSAGE))
        local elapsed = require("alimtalk.core").monotonic() - t0
        client:close()
        check(case, r, elapsed, h:hits(case) - before)
      end)
    end
  end)

  describe("through the cosocket transport in nginx", function()
    local n, http

    setup(function()
      n = nginx.start({ dir = fs.tmpdir("alimtalk-hostile-client"), config = function(dir, ports)
        return nginx.head(dir) .. ([[
  access_log off;
  lua_package_path "ROOT/lua/?.lua;ROOT/lua/?/init.lua;;";
  lua_package_cpath "ROOT/build/luajit/?.so;;";
  lua_ssl_trusted_certificate CAFILE;
  lua_ssl_verify_depth 3;
  server {
    listen 127.0.0.1:PORT;
    location = /send {
      content_by_lua_block {
        local cjson = require "cjson"
        ngx.req.read_body()
        local spec = cjson.decode(ngx.req.get_body_data())
        local client = assert(require("alimtalk").new{ provider = "sens", sens = spec.sens,
          templates = spec.templates, retry = { max_attempts = 2, base_delay = 0.01 } })
        local t0 = ngx.now()
        local r = assert(client:send(spec.message))
        ngx.update_time()
        local elapsed = ngx.now() - t0
        client:close()
        ngx.say(cjson.encode({ status = r.status, code = r.code, message = r.message,
                               attempts = r.attempts, elapsed = elapsed }))
      }
    }
  }
}
]]):gsub("ROOT", ROOT):gsub("CAFILE", h.ca_file):gsub("PORT", tostring(ports[1]))
      end })
      http = require("alimtalk.core").http_client({ timeout = 60 })
    end)

    teardown(function()
      if http then http:close() end
      if n then n:stop() end
    end)

    for _, case in ipairs(CASES) do
      it(case, function()
        local before = h:hits(case)
        local conf = { base_url = h:url(case), timeout = TIMEOUT, connect_timeout = TIMEOUT,
                       max_response = 65536 }
        for k, v in pairs(SENS) do conf[k] = v end
        local t0 = require("alimtalk.core").monotonic()
        local resp = assert(http:request({ method = "POST", url = ("http://127.0.0.1:%d/send"):format(n.port),
          body = cjson.encode({ sens = conf, templates = TEMPLATES, message = MESSAGE }) }))
        local elapsed = require("alimtalk.core").monotonic() - t0
        assert.are.equal(200, resp.status, resp.body .. (fs.read_file(n.dir .. "/error.log") or ""))
        local r = cjson.decode(resp.body)
        check(case, r, elapsed, h:hits(case) - before)
      end)
    end
  end)
end)
