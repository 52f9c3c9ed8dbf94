--- Campaign journals as an older version of alimtalk left them, for the specs that resume them.
--
--     local old_journal = require "support.old_journal"
--     old_journal.rewrite(path, "options", { 4, 5 })  -- no `options` in the header, rows 4, 5 not done
local cjson = require("cjson")
local fs = require("support.fs")

local _M = {}

--- Rewrite the journal at `path` as an older version would have left a run cut short: its
-- header (the `H` line) without the field `field`, no outcome (`O`) or pending (`P`) record
-- for the rows listed in `rows`, and no `done` event.
function _M.rewrite(path, field, rows)
  local drop = {}
  for _, r in ipairs(rows) do drop[r] = true end
  local kept = {}
  for _, l in ipairs(fs.read_lines(path)) do
    if l:match("^H\t") then
      local h = cjson.decode(l:sub(3))
      h[field] = nil
      l = "H\t" .. cjson.encode(h)
    end
    local row = tonumber(l:match("^[OP]\t(%d+)\t"))
    if not (row and drop[row]) and not l:match('^E\t.*"done"') then
      kept[#kept + 1] = l
    end
  end
  fs.write(path, table.concat(kept, "\n") .. "\n")
end

return _M
