-- alimtalk.core signing functions against vectors from openssl dgst and coreutils base64.
local core = require "alimtalk.core"
local kat = require "fixtures.kat.read"

local unhex = kat.unhex

describe("core.sha256", function()
  it("matches openssl dgst -sha256", function()
    for _, row in ipairs(kat.rows("sha256.tsv")) do
      assert.are.equal(row[2], core.hex(core.sha256(unhex(row[1]))))
    end
  end)
end)

describe("core.hmac_sha256", function()
  local rows = kat.rows("hmac.tsv")
  local function key_of(row)   -- the all-zero 64-byte key row stands for the empty key
    local k = unhex(row[1])
    if k == string.rep("\0", 64) then return "" end
    return k
  end

  it("matches openssl dgst -mac HMAC, raw and base64", function()
    for _, row in ipairs(rows) do
      local mac = core.hmac_sha256(key_of(row), unhex(row[2]))
      assert.are.equal(32, #mac)
      assert.are.equal(row[3], core.hex(mac))
      assert.are.equal(row[4], core.base64_encode(mac))
      assert.are.equal(row[4], core.hmac_sha256_base64(key_of(row), unhex(row[2])))
    end
  end)

  it("stays right when many keys alternate (the per-key context cache)", function()
    for _ = 1, 5 do
      for i = #rows, 1, -1 do
        local row = rows[i]
        assert.are.equal(row[3], core.hex(core.hmac_sha256(key_of(row), unhex(row[2]))))
      end
    end
    -- a key that differs from a cached one only in its last byte
    local a = core.hmac_sha256("secret-A", "m")
    local b = core.hmac_sha256("secret-B", "m")
    assert.are_not.equal(a, b)
    assert.are.equal(a, core.hmac_sha256("secret-A", "m"))
  end)

  it("raises on non-string arguments", function()
    assert.has_error(function() core.hmac_sha256(nil, "x") end)
    assert.has_error(function() core.hmac_sha256("k", {}) end)
  end)
end)

describe("core.base64", function()
  it("encodes and decodes like coreutils base64", function()
    for _, row in ipairs(kat.rows("base64.tsv")) do
      local raw = unhex(row[1])
      assert.are.equal(row[2], core.base64_encode(raw))
      assert.are.equal(raw, core.base64_decode(row[2]))
    end
  end)

  it("round-trips long random data", function()
    local s = core.random_bytes(100000)
    assert.are.equal(s, core.base64_decode(core.base64_encode(s)))
  end)

  it("rejects malformed input with a message and the bad_base64 code", function()
    local bad = {
      { "Zg=", "multiple of 4" },
      { "Zm9v\n", "multiple of 4" },
      { "Zm 9", "byte 3" },
      { "Zm9v\nYmFy", "multiple of 4" },
      { "Zm9v Yg==", "multiple of 4" },
      { "Z=9v", "padding at byte 2" },
      { "Zh==", "non-zero bits" },      -- "Zg==" is the canonical form
      { "Zm9=", "non-zero bits" },      -- "Zm8=" is
      { "Zm-_", "alphabet" },           -- URL-safe alphabet is not accepted
      { "====", "padding" },
    }
    for _, c in ipairs(bad) do
      local v, msg, code = core.base64_decode(c[1])
      assert.is_nil(v, c[1])
      assert.are.equal("bad_base64", code)
      assert.truthy(msg:find(c[2], 1, true), c[1] .. ": " .. tostring(msg))
    end
  end)
end)

describe("core.hex, core.equal, core.random_bytes", function()
  it("hex-encodes every byte in lower case", function()
    assert.are.equal("", core.hex(""))
    assert.are.equal("00ff7f80", core.hex("\0\255\127\128"))
  end)

  it("compares strings", function()
    assert.is_true(core.equal("", ""))
    assert.is_true(core.equal("abc\0d", "abc\0d"))
    assert.is_false(core.equal("abc\0d", "abc\0e"))
    assert.is_false(core.equal("abc", "abcd"))
    assert.is_false(core.equal("abcd", "abc"))
    assert.is_false(core.equal("", "a"))
  end)

  it("returns the requested number of unpredictable bytes", function()
    assert.are.equal("", core.random_bytes(0))
    local a, b = core.random_bytes(32), core.random_bytes(32)
    assert.are.equal(32, #a)
    assert.are_not.equal(a, b)
    assert.has_error(function() core.random_bytes(-1) end)
    assert.has_error(function() core.random_bytes(1.5) end)
    assert.has_error(function() core.random_bytes(2 * 1024 * 1024) end)
  end)
end)

describe("core.ncp_signature", function()
  it("signs METHOD URI, timestamp and access key like openssl dgst -hmac", function()
    for _, row in ipairs(kat.rows("ncp.tsv")) do
      assert.are.equal(row[6], core.ncp_signature(row[1], row[2], row[3], row[4], row[5]))
    end
  end)

  it("takes the timestamp as an integer number too", function()
    local row = kat.rows("ncp.tsv")[1]
    assert.are.equal(row[6], core.ncp_signature(row[1], row[2], tonumber(row[3]), row[4], row[5]))
  end)

  it("raises on input that would make the signed text ambiguous", function()
    local function sig(m, u, t, a, s) return function() core.ncp_signature(m, u, t, a, s) end end
    assert.has_error(sig("post", "/p", "1", "a", "s"), nil)
    assert.has_error(sig("POST", "p", "1", "a", "s"))
    assert.has_error(sig("POST", "/p q", "1", "a", "s"))
    assert.has_error(sig("POST", "/p\n", "1", "a", "s"))
    assert.has_error(sig("POST", "/p", "1.5", "a", "s"))
    assert.has_error(sig("POST", "/p", 1.5, "a", "s"))
    assert.has_error(sig("POST", "/p", -1, "a", "s"))
    assert.has_error(sig("POST", "/p", "1", "a\nb", "s"))
    assert.has_error(sig("POST", "/p", "1", "a", ""))
    assert.has_error(sig("POST", "/p", "1", "a", nil))
  end)

  it("names the argument in the error", function()
    local ok, err = pcall(core.ncp_signature, "POST", "/p", "x1", "a", "s")
    assert.is_false(ok)
    assert.truthy(tostring(err):find("timestamp", 1, true))
  end)
end)

describe("core.sinch_signature", function()
  it("signs body.nonce.timestamp like openssl dgst -hmac", function()
    for _, row in ipairs(kat.rows("sinch.tsv")) do
      assert.are.equal(row[5], core.sinch_signature(unhex(row[1]), unhex(row[2]), row[3], row[4]))
      assert.are.equal(row[5], core.sinch_signature(unhex(row[1]), unhex(row[2]), row[3], tonumber(row[4])))
    end
  end)

  it("changes when any signed byte changes", function()
    local row = kat.rows("sinch.tsv")[1]
    local body = unhex(row[2])
    assert.are_not.equal(row[5], core.sinch_signature(unhex(row[1]), body .. " ", row[3], row[4]))
    assert.are_not.equal(row[5], core.sinch_signature(unhex(row[1]), body, row[3] .. "x", row[4]))
    assert.are_not.equal(row[5], core.sinch_signature(unhex(row[1]), body, row[3], row[4] .. "1"))
  end)
end)
