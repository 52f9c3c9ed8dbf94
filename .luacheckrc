-- luacheck configuration: Lua 5.4 first, code that must also run on LuaJIT (5.1).
std = "max"
max_line_length = 110
codes = true
exclude_files = { "build/**", "spec/node/node_modules/**", ".rocks/**" }

files["spec/**"] = { std = "+busted" }
-- Code that runs inside nginx sees the `ngx` global.
for _, pat in ipairs({ "lua/alimtalk/sandbox/**", "lua/alimtalk/transport/cosocket.lua",
                       "examples/openresty/**", "spec/support/**" }) do
  files[pat] = { read_globals = { "ngx" } }
end
color = false  -- plain "Total: 0 warnings" lines for logs and hooks
-- The libFuzzer property scripts run in the harness's state: it gives them `core` (and, for
-- the HTTP target, the loopback server's `port` and `answer`) and calls their `check`.
files["spec/fuzz/c/**"] = { globals = { "check" }, read_globals = { "core", "port", "answer" } }
