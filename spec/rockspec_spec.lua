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
end)
