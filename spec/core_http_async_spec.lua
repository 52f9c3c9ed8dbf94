-- alimtalk.core.http_client's non-blocking pair, submit/wait, against a real nginx on loopback
-- (spec/support/httpd.lua).
local core = require "alimtalk.core"
local httpd = require "support.httpd"

describe("core.http_client submit/wait", function()
  local srv, client

  setup(function()
    srv = httpd.start({ tls = false })
  end)

  teardown(function()
    if client then client:close() end
    if srv then srv:stop() end
  end)

  before_each(function()
    client = core.http_client({ timeout = 20, connect_timeout = 10, max_connections = 4 })
  end)

  after_each(function()
    client:close()
  end)

  it("returns every submitted request's answer once, under its id", function()
    local want = {}
    for i = 1, 10 do
      local id = client:submit({ method = "POST", url = srv:url("/echo"), body = "body " .. i })
      assert.is_nil(want[id])
      want[id] = "body " .. i
    end
    assert.are.equal(10, client:pending())
    local seen = 0
    while true do
      local id, resp, err = client:wait()
      if not id then break end
      assert.is_nil(err)
      assert.are.equal(200, resp.status)
      assert.are.equal(want[id], resp.body)
      assert.are.equal("POST", resp.headers["x-method"])
      want[id] = nil
      seen = seen + 1
    end
    assert.are.equal(10, seen)
    assert.are.equal(0, client:pending())
    assert.is_nil(next(want))
  end)

  it("keeps the body it was given after the caller dropped it", function()
    local n = 4096
    local id = client:submit({ method = "POST", url = srv:url("/echo"),
                               body = string.rep("x", n - 1) .. "y" })
    collectgarbage()
    collectgarbage()
    local got, resp = client:wait()
    assert.are.equal(id, got)
    assert.are.equal(n, #resp.body)
    assert.are.equal("y", resp.body:sub(-1))
  end)

  it("with a timeout, returns nil while nothing has finished, then the answer", function()
    local id = client:submit({ url = srv:url("/delay?ms=300") })
    assert.is_nil(client:wait(0))
    assert.is_nil(client:wait(0.05))
    assert.are.equal(1, client:pending())
    local got, resp = client:wait(10)
    assert.are.equal(id, got)
    assert.are.equal("slept 300", resp.body)
  end)

  it("runs submitted requests concurrently, each on its own connection", function()
    for _ = 1, 4 do client:submit({ url = srv:url("/delay?ms=300") }) end
    local conns = {}
    for _ = 1, 4 do
      local _, resp = client:wait()
      assert.are.equal(200, resp.status)
      conns[resp.headers["x-connection"]] = true
    end
    local n = 0
    for _ in pairs(conns) do n = n + 1 end
    assert.are.equal(4, n)
  end)

  it("reports a failure as id, nil, message, code, sent", function()
    local id = client:submit({ method = "POST", url = "http://127.0.0.1:1/", body = "x" })
    local got, resp, err, code, sent = client:wait()
    assert.are.equal(id, got)
    assert.is_nil(resp)
    assert.is_string(err)
    assert.are.equal("connect", code)
    assert.is_false(sent)
  end)

  it("lets request() run while submitted requests are in flight", function()
    local id = client:submit({ url = srv:url("/delay?ms=200") })
    local resp = assert(client:request({ url = srv:url("/ok") }))
    assert.are.equal("ok", resp.body)
    local many = client:request_many({ { url = srv:url("/ok") }, { url = srv:url("/ok") } })
    assert.are.equal(200, many[2].resp.status)
    assert.are.equal(1, client:pending())
    local got, r2 = client:wait()
    assert.are.equal(id, got)
    assert.are.equal("slept 200", r2.body)
  end)

  it("checks a request as request() does, and a refused one is not pending", function()
    assert.has_error(function() client:submit({ url = srv:url(), method = "post" }) end,
      "req.method: must be upper-case letters such as \"POST\"")
    assert.has_error(function() client:submit({ url = "http://example.com/" }) end)
    assert.are.equal(0, client:pending())
    assert.is_nil(client:wait())
    local id = client:submit({ url = srv:url() })
    assert.are.equal(id, (client:wait()))
  end)

  it("closes with requests in flight, and refuses use after close", function()
    for _ = 1, 3 do client:submit({ url = srv:url("/delay?ms=500") }) end
    client:close()
    assert.has_error(function() client:submit({ url = srv:url() }) end,
      "alimtalk.core http client: used after close()")
    assert.has_error(function() client:wait() end, "alimtalk.core http client: used after close()")
  end)
end)
