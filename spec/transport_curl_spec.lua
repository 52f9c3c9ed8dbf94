-- The default transport wraps alimtalk.core's HTTP client behind the transport seam.
local sandbox = require "support.sandbox"
local curl = require "alimtalk.transport.curl"

describe("transport.curl", function()
  local s
  setup(function() s = sandbox.start{} end)
  teardown(function() assert.same({}, sandbox.stop(s)) end)

  it("sends one request and many concurrently over one verified TLS connection pool", function()
    local t = curl.new{ ca_file = s.ca_file, timeout = 5 }
    local resp = assert(t:request{ method = "GET", url = s.https_url .. "/_sandbox/health" })
    assert.equal(200, resp.status)
    local reqs = {}
    for i = 1, 5 do reqs[i] = { method = "GET", url = s.https_url .. "/_sandbox/health" } end
    local res = t:request_many(reqs)
    assert.equal(5, #res)
    for _, r in ipairs(res) do assert.equal(200, r.resp.status) end
    local st = t:stats()
    assert.equal(6, st.requests)
    assert.is_true(st.connections <= 5)
    t:close()
    t:close()
  end)

  it("refuses a server it cannot verify and reports nothing sent", function()
    local t = curl.new{ timeout = 5 }
    local resp, msg, code, sent = t:request{ method = "POST", url = s.https_url .. "/v2/send/kakao",
                                             body = "{}" }
    assert.is_nil(resp)
    assert.equal("tls", code)
    assert.is_false(sent)
    assert.truthy(msg)
    t:close()
  end)

  it("raises on unknown options", function()
    assert.has_error(function() curl.new{ cafile = "x" } end)
  end)
end)
