-- The OpenResty example's /metrics in a real nginx with TWO workers: each worker's client
-- counts into the `alimtalk_metrics` shared dict, so one /metrics answer adds up to the sends
-- made through both workers (per status and code), and its request counts to the requests the
-- sandbox server saw. The example's own nginx.conf is used, with `worker_processes 2`,
-- `user root` (a clone in a 0700 folder) and a header naming the worker that answered.
local sandbox = require "support.sandbox"
local fs = require "support.fs"
local nginx = require "support.nginx"
local prom = require "support.prometheus"
local cjson = require "cjson"

local ROOT = sandbox.root

describe("OpenResty example: /metrics over two workers", function()
  local s, n, http

  local function url(path) return ("http://127.0.0.1:%d%s"):format(n.port, path) end

  setup(function()
    s = sandbox.start{ tls = false, delivery_delay = 0.05 }
    http = require("alimtalk.core").http_client({ timeout = 30, max_connections = 16 })
    local dir = fs.tmpdir("alimtalk-ngx-metrics")
    local c = s.credentials.sens
    fs.write(dir .. "/alimtalk.json", cjson.encode({
      provider = "sens", templates = sandbox.templates,
      sens = { base_url = s.http_url, access_key = c.access_key, secret_key = c.secret_key,
               service_id = c.service_id, plus_friend_id = c.plus_friend_id, timeout = 10 },
    }))
    local conf = assert(fs.read_file(ROOT .. "/examples/openresty/nginx.conf"))
    n = nginx.start{ dir = dir, config = function(d, ports)
      local text = conf:gsub("@ROOT@", (ROOT:gsub("%%", "%%%%"))):gsub("@RUNDIR@", (d:gsub("%%", "%%%%")))
        :gsub("@PORT@", tostring(ports[1])):gsub("@CA_FILE@", "/etc/ssl/certs/ca-certificates.crt")
      local k
      -- the example's user line, as run.sh fills it: root when root starts nginx, else none
      text, k = text:gsub("\nuser @USER@;", fs.is_root() and "\nuser root;" or "")
      assert(k == 1, "the example names its workers' user")
      text, k = text:gsub("\nworker_processes 1;", "\nworker_processes 2;")
      assert(k == 1, "the example sets worker_processes")
      -- one listening socket per worker: the kernel spreads new connections over both (with a
      -- shared socket one worker may accept them all, and the two-worker check proves nothing)
      text, k = text:gsub("listen 127%.0%.0%.1:(%d+);", "listen 127.0.0.1:%1 reuseport;")
      assert(k == 1, "the example listens on one loopback port")
      text, k = text:gsub("\nenv ALIMTALK_CONFIG;", "\nenv ALIMTALK_CONFIG=" .. d .. "/alimtalk.json;")
      assert(k == 1, "the example reads ALIMTALK_CONFIG")
      text, k = text:gsub("client_max_body_size 1m;",
                          "client_max_body_size 1m;\n    add_header X-Worker $pid always;")
      assert(k == 1)
      return text
    end }
  end)

  teardown(function()
    if http then http:close() end
    local log = n and fs.read_file(n.dir .. "/error.log") or ""
    if n then n:stop() end
    assert.same({}, sandbox.stop(s))
    assert.is_nil(log:find("runtime error", 1, true), log)
  end)

  it("adds up every worker's sends, per status and code, and per request", function()
    -- a quarter of the messages refused by Kakao (3016); a few refused before sending
    assert(s:fault{ provider = "sens", kind = "code", code = "3016", rate = 0.25, seed = 3 })
    local want, total, pids = {}, 0, {}
    local n_pids = 0
    for round = 1, 6 do
      local reqs = {}
      for i = 1, 24 do
        local k = round * 100 + i
        local to = (i % 8 == 0) and "02-1" or ("010-6000-%04d"):format(k)
        reqs[i] = { method = "POST", url = url("/send"), headers = { ["Content-Type"] = "application/json" },
                    body = cjson.encode({ to = to, template = "order_shipped",
                      vars = { name = "고객" .. k, order = "A" .. k, courier = "우체국택배",
                               invoice = ("%013d"):format(6302114700000 + k) } }) }
      end
      -- new connections each round, so the kernel hands some to each worker
      http:close()
      http = require("alimtalk.core").http_client({ timeout = 30, max_connections = 16 })
      for _, r in ipairs(http:request_many(reqs)) do
        assert(r.resp, r.err)
        local b = cjson.decode(r.resp.body)
        local status, code = b.status, b.code
        if b.error then code = b.error.provider_code or b.error.code end
        local key = status .. "/" .. tostring(code)
        want[key] = (want[key] or 0) + 1
        total = total + 1
        local pid = r.resp.headers["x-worker"]
        if pid and not pids[pid] then pids[pid], n_pids = true, n_pids + 1 end
      end
      if n_pids >= 2 and round >= 2 then break end
    end
    assert.are.equal(2, n_pids, "both workers served sends")
    assert.is_true((want["rejected/3016"] or 0) > 0 and (want["accepted/A000"] or 0) > 0)
    assert.is_true((want["rejected/3008"] or 0) > 0)

    local resp = assert(http:request{ url = url("/metrics") })
    assert.are.equal(200, resp.status)
    assert.matches("^text/plain; version=0.0.4", resp.headers["content-type"])
    local _, samples = prom.parse(resp.body)
    assert.are.equal(total, prom.sum(samples, "alimtalk_messages_total"))
    for key, count in pairs(want) do
      local status, code = key:match("^(.-)/(.*)$")
      assert.are.equal(count, prom.sum(samples, "alimtalk_messages_total",
                                       { provider = "sens", status = status, code = code }), key)
    end
    local posts = sandbox.count_attempts(s, "sens", "/messages$", "POST")
    assert.are.equal(posts, prom.sum(samples, "alimtalk_requests_total", { provider = "sens" }))
    assert.are.equal(posts, prom.check_histogram(samples, "alimtalk_send_seconds", { provider = "sens" }))
    -- the same answer from either worker: one dict behind both
    local reqs, seen = {}, {}
    for i = 1, 12 do reqs[i] = { url = url("/metrics") } end
    for _, r in ipairs(http:request_many(reqs)) do
      assert(r.resp, r.err)
      assert.are.equal(resp.body, r.resp.body)
      seen[r.resp.headers["x-worker"]] = true
    end
    assert.is_truthy(next(seen))
  end)
end)
