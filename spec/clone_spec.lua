-- A checkout in a folder other users cannot enter (0700, as under /root or any `mktemp -d`)
-- works: the files a clone has (tracked and new, as `git ls-files` lists them) are copied
-- there with the C core built here, and the specs that start nginx (the OpenResty example and
-- the sandbox server, whose workers nginx would run as `nobody` when root starts it), the
-- examples spec and `make demo` run from that copy.
local fs = require("support.fs")
local sandbox = require("support.sandbox")

local ROOT = sandbox.root
local q = fs.q

describe("a checkout in a 0700 folder", function()
  local top, clone

  setup(function()
    top = fs.tmpdir("alimtalk-clone")
    assert(fs.sh("chmod 700 " .. q(top)))
    clone = top .. "/alimtalk"
    assert(fs.sh("mkdir " .. q(clone)))
    -- what a clone holds (plus uncommitted edits), else the tree without its build
    local list = ("git -C %s ls-files -z --cached --others --exclude-standard 2>/dev/null"):format(q(ROOT))
    local copy
    if fs.sh(list .. " >/dev/null") then
      copy = ("cd %s && %s | xargs -0 -r sh -c 'for f; do [ -e \"$f\" ] && printf \"%%s\\0\" \"$f\"; done' sh"
        .. " | tar --null -T - -cf - | tar -C %s -xf -"):format(q(ROOT), list, q(clone))
    else
      copy = ("tar -C %s --exclude=./build --exclude=./spec/node/node_modules -cf - . | tar -C %s -xf -")
        :format(q(ROOT), q(clone))
    end
    local rc, out = fs.capture(copy)
    assert(rc == 0, out)
    -- the C core as built here (tar keeps the times, so make sees it up to date)
    rc, out = fs.capture(("tar -C %s -cf - build/lua5.4 build/luajit | tar -C %s -xf -")
      :format(q(ROOT), q(clone)))
    assert(rc == 0, out)
  end)

  teardown(function() fs.rmtree(top) end)

  it("is a folder nginx's default worker user cannot read", function()
    if not fs.is_root() then
      pending("not root: nginx's workers run as this user, who can read the checkout")
      return
    end
    local file = q(clone .. "/lua/alimtalk/init.lua")
    assert.is_false(fs.sh(("runuser -u nobody -- test -r %s 2>/dev/null"):format(file)))
    assert.is_true(fs.sh("test -r " .. file))
  end)

  it("runs the OpenResty, sandbox server and examples specs from there", function()
    local rt = fs.RUNTIME
    local env = ("env -u MAKEFLAGS -u MAKELEVEL LUA_PATH=%s LUA_CPATH=%s"):format(
      q(clone .. "/lua/?.lua;" .. clone .. "/lua/?/init.lua;;"), q(clone .. "/build/" .. rt .. "/?.so;;"))
    -- the wrk load test is left to the suite's own run of openresty_spec: it is not about folders
    local cmd = ("cd %s && %s busted --lua=%s -o plainTerminal --filter-out=unrelated.handler.fast "
      .. "spec/openresty_spec.lua spec/sandbox_server_spec.lua spec/examples_spec.lua")
      :format(q(clone), env, rt)
    local rc, out = fs.capture(cmd)
    local ok, failed, errors = out:match("(%d+) successes? / (%d+) failures? / (%d+) errors?")
    assert.are.equal(0, rc, out)
    assert.are.same({ 0, 0 }, { tonumber(failed), tonumber(errors) }, out)
    -- every spec of the three files ran (a file that failed to load counts as an error above)
    assert.is_true(tonumber(ok) >= 15, out)
    -- the specs ran on the copy, not on this checkout
    assert.is_nil(out:find(ROOT .. "/lua/", 1, true), out)
  end)

  it("runs make demo from there", function()
    local rc, out = fs.capture(("cd %s && env -u MAKEFLAGS -u MAKELEVEL -u LUA_PATH -u LUA_CPATH "
      .. "make -s demo"):format(q(clone)))
    assert.are.equal(0, rc, out)
    assert.matches("delivered", out)
  end)
end)
