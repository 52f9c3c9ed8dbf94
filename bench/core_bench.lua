-- Benchmarks of the C core, each against a baseline measured in the same run:
--   1. HMAC-SHA256 + base64 of 100 bytes: ours vs luaossl (Debian lua-luaossl)   goal >= 1.5x
--   2. sequential keep-alive POSTs to a local nginx `return 200`: ours vs a C libcurl loop
--      (bench/c/curl_loop.c, compiled now into build/bench/)                    goal >= 0.85x
--   3. core.measure on Korean text, MB/s, vs Lua's utf8.len (which only counts code points)
-- Every loop is bounded by a count and by time.
local core = require "alimtalk.core"
local httpd = require "support.httpd"

local clock = core.monotonic
local script = debug.getinfo(1, "S").source:match("^@(.*)$")
local root = script:match("^(.*)/bench/[^/]*$") or "."

local function rate(fn, batch, max_n, max_s)
  local n, t0 = 0, clock()
  repeat
    for _ = 1, batch do fn() end
    n = n + batch
  until n >= max_n or clock() - t0 >= max_s
  return n / (clock() - t0), n
end

local function row(name, ours, base, unit, goal)
  local ratio = ours / base
  print(("%-44s ours %12.0f %s   baseline %12.0f %s   ratio %.2fx%s"):format(name, ours, unit, base, unit,
    ratio, goal and (ratio >= goal and ("  (goal %.2fx: met)"):format(goal)
                                     or ("  (goal %.2fx: NOT met)"):format(goal)) or ""))
end

-- 1. HMAC ---------------------------------------------------------------------------------
do
  local ok, hmac = pcall(require, "openssl.hmac")
  local key, data = "u1v2w3x4y5z6A7B8C9D0e1f2g3h4i5j6k7l8m9n0", string.rep("d", 100)
  local b64, mac, mac64 = core.base64_encode, core.hmac_sha256, core.hmac_sha256_base64
  local expect = b64(mac(key, data))
  if not ok then
    print("HMAC: luaossl (openssl.hmac) is not installed; skipped: " .. tostring(hmac))
  else
    assert(b64(hmac.new(key, "sha256"):final(data)) == expect, "luaossl and core disagree")
    local function ours() return b64(mac(key, data)) end
    local function ours1() return mac64(key, data) end
    -- luaossl has no base64: the baseline uses ours, so the ratio compares the HMAC alone
    local function theirs() return b64(hmac.new(key, "sha256"):final(data)) end
    for _ = 1, 2 do rate(ours, 1000, 20000, 0.2); rate(theirs, 1000, 20000, 0.2) end  -- warm up
    -- best of 3 alternating rounds: the machine may be busy with other work
    local o, t, o1 = 0, 0, 0
    for _ = 1, 3 do
      o = math.max(o, (rate(ours, 1000, 2000000, 0.5)))
      t = math.max(t, (rate(theirs, 1000, 2000000, 0.5)))
      o1 = math.max(o1, (rate(ours1, 1000, 2000000, 0.5)))
    end
    row("HMAC-SHA256+base64, 100 B (calls/s)", o, t, "/s", 1.5)
    row("  same, core.hmac_sha256_base64 one call", o1, t, "/s", 1.5)
  end
end

-- 2. HTTP ---------------------------------------------------------------------------------
do
  local bin = root .. "/build/bench/curl_loop"
  assert(os.execute("mkdir -p '" .. root .. "/build/bench' && gcc -std=c99 -O2 -Wall -Wextra -Werror -o '"
    .. bin .. "' '" .. root .. "/bench/c/curl_loop.c' -lcurl"), "could not compile bench/c/curl_loop.c")
  -- a 639-byte JSON body like a SENS AlimTalk send
  local body = '{"plusFriendId":"@shop","templateCode":"ORDER_SHIPPED","messages":[{"countryCode":"82",'
    .. '"to":"01012345678","content":"홍길동님, 주문하신 상품이 발송되었습니다.\\n주문번호: 1234-5678\\n'
    .. '택배사: CJ대한통운\\n운송장번호: 123456789012","buttons":[{"type":"DS","name":"배송조회"},'
    .. '{"type":"WL","name":"주문 보기","linkMobile":"https://shop.example/o/1234","linkPc":'
    .. '"https://shop.example/o/1234"}],"useSmsFailover":true,"failoverConfig":{"type":"LMS",'
    .. '"from":"0212345678","subject":"발송 안내","content":"홍길동님, 주문하신 상품이 발송되었습니다."}}]}'
  body = body .. string.rep(" ", math.max(0, 639 - #body))
  local srv = httpd.start()
  local ok, err = pcall(function()
    local url = srv:url("/ok")
    local bodyfile = srv.dir .. "/body.json"
    local f = assert(io.open(bodyfile, "wb")); f:write(body); f:close()
    local function c_loop(count, secs)
      local p = assert(io.popen(("'%s' '%s' '%s' %d %f"):format(bin, url, bodyfile, count, secs)))
      local out = p:read("*a"); p:close()
      local n, t = out:match("^(%d+) ([%d.]+)")
      assert(n, "curl_loop failed: " .. out)
      return tonumber(n) / tonumber(t)
    end
    local client = core.http_client({ timeout = 5 })
    local req = { method = "POST", url = url, body = body,
                  headers = { ["Content-Type"] = "application/json; charset=utf-8" } }
    local function ours()
      local resp, e = client:request(req)
      if not resp or resp.status ~= 200 then error("request failed: " .. tostring(e)) end
    end
    c_loop(500, 0.5); rate(ours, 50, 500, 0.5)                                          -- warm up
    -- 8 back-to-back pairs (C, then ours) and the median of each: other work on a busy
    -- machine shifts both sides of a pair alike, and the median drops the outlier pairs
    local bases, ours_r, ratios = {}, {}, {}
    for i = 1, 8 do
      bases[i] = c_loop(20000, 0.4)
      ours_r[i] = rate(ours, 50, 20000, 0.4)
      ratios[i] = ours_r[i] / bases[i]
    end
    local function median(t)
      table.sort(t)
      return (t[4] + t[5]) / 2
    end
    local base, o, ratio = median(bases), median(ours_r), median(ratios)
    print(("%-44s ours %12.0f /s   baseline %12.0f /s   ratio %.2fx (median of 8 pairs)  (goal 0.85x: %s)")
      :format("keep-alive POST 639 B, sequential (req/s)", o, base, ratio,
              ratio >= 0.85 and "met" or "NOT met"))
    print(("  connections opened by our client: %d for %d requests"):format(
      client:stats().connections, client:stats().requests))
    client:close()
  end)
  srv:stop()
  if not ok then error(err, 0) end
end

-- 3. measure --------------------------------------------------------------------------------
do
  local para = "[쇼핑몰] 홍길동님, 주문하신 상품이 발송되었습니다.\n주문번호: 1234-5678 (총 3건)\n"
    .. "택배사: CJ대한통운 / 운송장: 123456789012\n※ 배송 문의는 고객센터 1588-0000으로 연락 주세요. ★\n"
  local text = string.rep(para, math.ceil(1024 * 1024 / #para))
  local mb = #text / (1024 * 1024)
  local mf, ulen = core.measure_fields, utf8 and utf8.len
  local _, _, chars = mf(text)
  local o = rate(function() mf(text) end, 1, 2000, 1.5) * mb
  if ulen then
    assert(ulen(text) == chars, "utf8.len and core.measure disagree")
    local b = rate(function() ulen(text) end, 1, 2000, 1.5) * mb
    row("measure() on Korean text (MB/s)", o, b, "MB/s")
    print("  (baseline: utf8.len, which counts code points only; measure also validates and counts"
      .. " CP949 bytes and lines)")
  else
    print(("measure() on Korean text: %.0f MB/s (no utf8.len baseline on this runtime)"):format(o))
  end
end
