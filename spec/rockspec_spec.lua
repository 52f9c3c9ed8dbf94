-- The rockspec installs every Lua module under lua/ and nothing that is not there, so an
-- installed alimtalk behaves like the source tree.
describe("alimtalk-scm-1.rockspec", function()
  local spec = {}
  local chunk = assert(loadfile("alimtalk-scm-1.rockspec", "t", spec))
  chunk()

  local on_disk = {}
  local p = assert(io.popen("find lua -name '*.lua'"))
  for file in p:lines() do on_disk[file] = true end
  p:close()

  it("lists every Lua file under lua/ as a module (run tools/gen-rockspec)", function()
    local listed = {}
    for _, v in pairs(spec.build.modules) do
      if type(v) == "string" then listed[v] = true end
    end
    for file in pairs(on_disk) do
      assert.is_true(listed[file] == true, file .. " is missing from the rockspec")
    end
  end)

  it("maps each module name to the file require would load", function()
    for name, v in pairs(spec.build.modules) do
      if type(v) == "string" then
        assert.is_true(on_disk[v] == true, v .. " does not exist")
        local expect = name:gsub("%.", "/")
        assert.is_truthy(v == "lua/" .. expect .. ".lua" or v == "lua/" .. expect .. "/init.lua",
          name .. " -> " .. v)
      end
    end
  end)

  it("builds the C core from every source file in src/", function()
    local srcs = {}
    for _, s in ipairs(spec.build.modules["alimtalk.core"].sources) do srcs[s] = true end
    local q = assert(io.popen("ls src/*.c"))
    for file in q:lines() do assert.is_true(srcs[file] == true, file .. " not in the rockspec") end
    q:close()
  end)

  it("installs the command line", function()
    assert.equal("bin/alimtalk", spec.build.install.bin.alimtalk)
  end)

  -- A real install: luarocks builds the C core and copies every module into a private tree,
  -- then a fresh Lua 5.4 loads the library from there alone. Once per suite (Lua 5.4 only).
  local it_54 = (type(jit) == "table") and pending or it
  it_54("installs with `luarocks make` and loads from the installed tree", function()
    if os.execute("command -v luarocks >/dev/null 2>&1") ~= true then
      return pending("luarocks is not installed")
    end
    local tmp = assert(io.popen("mktemp -d")):read("l")
    local script = table.concat({
      "set -e",
      "mkdir -p " .. tmp .. "/src " .. tmp .. "/tree",
      "tar --exclude=./build --exclude=./spec/node/node_modules --exclude=./.git -cf - . "
        .. "| tar -xf - -C " .. tmp .. "/src",
      "cd " .. tmp .. "/src",
      "luarocks --lua-version 5.4 --tree " .. tmp .. "/tree make --deps-mode=none >" .. tmp .. "/log 2>&1",
      "cd /",
      "LUA_PATH='" .. tmp .. "/tree/share/lua/5.4/?.lua;" .. tmp .. "/tree/share/lua/5.4/?/init.lua;;' "
        .. "LUA_CPATH='" .. tmp .. "/tree/lib/lua/5.4/?.so;;' lua5.4 -e '"
        .. "local a = require(\"alimtalk\"); local core = require(\"alimtalk.core\"); "
        .. "assert(package.searchpath(\"alimtalk.core\", package.cpath):find(\"" .. tmp .. "\", 1, true)); "
        .. "assert(core.hex(core.sha256(\"abc\")):sub(1, 8) == \"ba7816bf\"); "
        .. "assert(type(a.new) == \"function\"); print(\"installed ok\")'",
      "test -x " .. tmp .. "/tree/bin/alimtalk",
    }, "\n")
    local f = assert(io.open(tmp .. "/run.sh", "w"))
    f:write(script, "\n"); f:close()
    local proc = assert(io.popen("bash " .. tmp .. "/run.sh 2>&1"))
    local out = proc:read("a")
    local ok = proc:close()
    local log = io.open(tmp .. "/log") and io.open(tmp .. "/log"):read("a") or ""
    os.execute("rm -rf " .. tmp)
    assert.is_true(ok == true, out .. "\n" .. log)
    assert.matches("installed ok", out)
  end)
end)
