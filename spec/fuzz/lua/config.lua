-- The configuration loader: the CLI's file (lua/alimtalk/cli/common.lua load_config, resolve,
-- webhook_options, client) over mutations of the documented example (docs/cli.md), and
-- lua/alimtalk/config.lua's resolve and redact_url. Properties: a configuration file gives a
-- configuration or nil and a one-line message, never a raise; a resolved value never holds a
-- line break or NUL; a redacted URL keeps no password, query or fragment.
local common = require "alimtalk.cli.common"
local config = require "alimtalk.config"
local cjson = require "cjson"

common.err = function() end   -- the secret-in-file warnings are not what is fuzzed here

local PATH = os.tmpname()
local EXAMPLE = [[{
  "templates": "templates.json",
  "sens": { "base_url": "https://sens.apigw.ntruss.com", "service_id": "ncp:kkobizmsg:kr:1234:shop",
            "plus_friend_id": "@shop", "access_key": "env:NCP_ACCESS_KEY", "secret_key_env": "S" },
  "apiplex": { "user_id": "shop", "sender_key": "k", "sender_number": "0212345678", "secret_key": "x" },
  "route": ["sens", "apiplex"],
  "bulk": { "state_dir": "/tmp", "rate": 200, "concurrency": 8 },
  "webhook": { "sinch": { "window": 300, "secret": "env:W" } }
}]]
local ENV = { NCP_ACCESS_KEY = "AK", S = "secret", W = "w", BAD = "a\nb" }

local function string_result(ok, v, e)
  assert(ok, "raised: " .. tostring(v))
  if v == nil then assert(e ~= nil, "nil without a message") end
  return v
end

local _M = {}

function _M.run(g)
  local text = EXAMPLE
  if g:chance(0.5) then
    local doc = cjson.decode(EXAMPLE)
    local keys = { "sens", "apiplex", "route", "provider", "providers", "webhook", "bulk", "templates",
                   "sinch" }
    for _ = 1, g:int(1, 3) do
      local k = g:pick(keys)
      if g:chance(0.5) or type(doc[k]) ~= "table" then doc[k] = g:value()
      else
        local sub = { "base_url", "secret_key", "secret_key_env", "access_key", "timeout", "sinch",
                      "user_id" }
        doc[k][g:pick(sub)] = g:chance(0.3) and g:pick({ "env:BAD", "env:UNSET", "a\r\n", "env:S" })
                              or g:value()
      end
    end
    text = cjson.encode(doc)
  else
    text = g:mutate(text)
  end
  local f = assert(io.open(PATH, "wb")); f:write(text); f:close()
  g.case = text
  local getenv = function(k) return ENV[k] end
  local cfg = string_result(pcall(common.load_config, { config = PATH }, getenv))
  if cfg then
    local r = string_result(pcall(common.resolve, cfg))
    if r then
      for _, name in ipairs(common.used_sections(cfg)) do
        for k, v in pairs(type(cfg[name]) == "table" and cfg[name] or {}) do
          -- (a `_env` key's value names a variable; it goes into no request)
          assert(not (type(v) == "string" and v:find("[\r\n%z]") and not tostring(k):find("_env$")),
                 "resolved " .. name .. "." .. tostring(k)
                 .. " holds a line break or NUL")
        end
      end
      string_result(pcall(common.webhook_options, cfg, "sinch"))
      if g:chance(0.3) then
        local ok, c = pcall(common.client, cfg)
        assert(ok, "client raised: " .. tostring(c))
        if c and c.close then c:close() end
      end
    end
  end
  -- config.resolve never hands out a value a header cannot carry
  local v = g:bytes(g:int(0, 6), "ab\r\n\0 ")
  local got, err = config.resolve({ key = v }, "key", nil, getenv, "p")
  assert(got == nil or not got:find("[\r\n%z]"), "resolve gave a value with a line break")
  if v:find("[\r\n%z]") then assert(got == nil and err and err.code == "BAD_OPTION", "BAD_OPTION") end
  -- redact_url: a password in the userinfo, a query or a fragment never shows
  local url = g:pick({ "https://", "http://", "" }) .. g:bytes(g:int(0, 4), "u:@x") .. "SECRETPW@"
    .. g:bytes(g:int(0, 6), "h.:1@") .. g:pick({ "", "/p", "/p@q", "/" })
    .. g:pick({ "", "?a=SECRETQ", "#SECRETF" })
  local red = config.redact_url(url)
  g.case = url
  assert(not red:find("SECRET", 1, true) and not red:find("[?#]"), "redact_url kept a secret: " .. red)
end

return _M
