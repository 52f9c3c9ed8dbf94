-- Properties of the HTTP client's answer handling (src/http.c: status line, header block and
-- its table, the body cap) over any answer bytes (libFuzzer target "http", harness fuzz_http.c).
-- The first input byte picks the method, the cap, the call (request, request_many, submit and
-- wait) and whether the rest is played back as it is or wrapped into a well-formed answer
-- whose status, headers (folded lines among them) and body the client must then report exactly.
-- Answers with folded header lines once found a use-after-free in libcurl 7.88.1 that src/http.c
-- now avoids (spec/fuzz/corpus/http/libcurl-folded-header*, docs/reliability.md).
local CODES = { dns = true, connect = true, tls = true, timeout = true, too_large = true,
                protocol = true }
local STATUSES = { 200, 201, 202, 400, 401, 404, 429, 500, 502, 503 }
local DEFAULT_CAP = 1024 * 1024

local client = core.http_client{ timeout = 3, connect_timeout = 3 }
local url = "http://127.0.0.1:" .. port .. "/fuzz"

-- A well-formed answer from the bytes: a status, header lines X-F<n> with printable values,
-- one header in mixed case, then a Content-Length body.
local function wrap(s)
  local status = STATUSES[(s:byte(1) or 0) % #STATUSES + 1]
  local cut = (s:byte(2) or 0) % (#s + 1)
  local hbytes, body = s:sub(3, cut + 2), s:sub(cut + 3)
  local lines, headers = { "HTTP/1.1 " .. status .. " Whatever" }, {}
  local i = 0
  for chunk in hbytes:gmatch("[^\n]+") do
    local v = chunk:gsub("[^\33-\126]", "_")
    if i > 0 and chunk:byte(1) % 5 == 0 then
      -- a folded line (obs-fold): the client joins it to the header before it with a space
      lines[#lines + 1] = (chunk:byte(1) % 2 == 0 and " " or "\t ") .. v .. " "
      headers["x-f" .. i] = headers["x-f" .. i] .. " " .. v
    else
      i = i + 1
      lines[#lines + 1] = "X-F" .. i .. ":  " .. v .. " \t"
      headers["x-f" .. i] = v
    end
  end
  lines[#lines + 1] = "X-MiXeD-CaSe: yes"
  headers["x-mixed-case"] = "yes"
  lines[#lines + 1] = "Content-Length: " .. #body
  -- the server closes after each answer; said so, the client must not reuse the connection
  -- (unsaid, a POST on the closed connection is refused as possibly sent, by design)
  lines[#lines + 1] = "Connection: close"
  headers["connection"] = "close"
  return table.concat(lines, "\r\n") .. "\r\n\r\n" .. body, status, headers, body
end

local function check_outcome(resp, err, code, sent, req, want)
  local cap = req.max_response or DEFAULT_CAP
  if resp then
    assert(math.type(resp.status) == "integer", "status is not an integer")
    assert(type(resp.body) == "string" and #resp.body <= cap, "body over the cap")
    if req.method == "HEAD" then assert(resp.body == "", "a body for HEAD") end
    local h = resp.headers
    assert(type(h) == "table", "headers")
    for k, v in pairs(h) do
      assert(type(k) == "string" and type(v) == "string", "header types")
      assert(not k:find("[A-Z]"), "header name not lower-cased: " .. k)
      -- trimmed (a repeated header whose repeat is empty ends in ", ": left as it is)
      assert(not v:find("^[ \t]") and not v:find("[\t\r\n]$"), "header value not trimmed")
    end
    if want then
      assert(resp.status == want.status, "status " .. resp.status .. " ~= " .. want.status)
      if req.method ~= "HEAD" then assert(resp.body == want.body, "body differs") end
      for k, v in pairs(want.headers) do assert(h[k] == v, "header " .. k) end
    end
  else
    assert(type(err) == "string" and err ~= "", "no error message")
    assert(CODES[code], "unknown error code " .. tostring(code))
    -- the server took every request: a failure must never say "not sent" (a POST would be
    -- sent again)
    assert(sent == true, "a failed request the server read reports sent = false")
    if want then
      assert(code == "too_large" and req.method ~= "HEAD" and #want.body > cap,
             "a well-formed answer failed: " .. code .. ": " .. err)
    end
  end
end

function check(s)     -- the harness calls it
  if #s == 0 then return end
  local mode, rest = s:byte(1), s:sub(2)
  local method = ({ "GET", "POST", "HEAD", "PUT" })[mode % 4 + 1]
  local cap = ({ 16, 1000, false, false })[(mode >> 2) % 4 + 1] or nil
  local call = (mode >> 4) % 4     -- 0, 1: request; 2: request_many; 3: submit/wait
  local want
  if mode >= 128 then
    local a, status, headers, body = wrap(rest)
    want = { status = status, headers = headers, body = body }
    rest = a
  end
  answer(rest)
  local req = { method = method, url = url, max_response = cap,
                body = (method == "POST" or method == "PUT") and "{\"fuzz\":1}" or nil }
  if call == 2 then
    local out = client:request_many({ req, req })
    assert(#out == 2, "request_many lost an answer")
    for _, o in ipairs(out) do check_outcome(o.resp, o.err, o.code, o.sent, req, want) end
  elseif call == 3 then
    local id = client:submit(req)
    local got, resp, err, code, sent = client:wait()
    assert(got == id, "wait returned another id")
    check_outcome(resp, err, code, sent, req, want)
    assert(client:pending() == 0 and client:wait(0) == nil, "a transfer left pending")
  else
    -- twice: the second may find the first one's connection closed by the server
    for _ = 1, 2 do
      local resp, err, code, sent = client:request(req)
      check_outcome(resp, err, code, sent, req, want)
    end
  end
end
