--- The embedded sandbox's outbox: one JSON object per line, each what a handset would show.
-- Lines are appended and flushed as messages are accepted, so another process (the CLI's
-- `sandbox outbox`, a test) can read the file while a program is sending.
--
--     {"time":"2026-11-21T10:00:00Z","provider":"sandbox","profile":"sens",
--      "request_id":"...","message_id":"...","serial":"order-1001","to":"01012345678",
--      "template":"order_shipped","template_code":"ORDER_SHIPPED","title":null,
--      "text":"홍길동님, ...","buttons":[{"type":"DS","name":"배송조회"}]}
-- @module alimtalk.outbox
local _M = {}

local cjson = require "cjson.safe"

local mt = { __name = "alimtalk.outbox" }
local methods = {}
mt.__index = methods

--- Open (create or append to) an outbox file.
-- @tparam string path
-- @treturn table outbox, or nil and a message
function _M.open(path)
  assert(type(path) == "string", "outbox.open: path must be a string")
  local f, err = io.open(path, "a")
  if not f then return nil, err end
  return setmetatable({ path = path, file = f }, mt)
end

--- Append one record (a table) as a JSON line and flush it.
function methods:append(record)
  local line = assert(cjson.encode(record))
  local ok, err = self.file:write(line, "\n")
  if not ok then return nil, err end
  self.file:flush()
  return true
end

--- Close the file (safe to call twice).
function methods:close()
  if self.file then self.file:close() self.file = nil end
end

--- Read every record of an outbox file.
-- @tparam string path
-- @treturn table list of records (an empty list when the file does not exist)
function _M.read(path)
  local f = io.open(path, "r")
  if not f then return {} end
  local out = {}
  for line in f:lines() do
    if line ~= "" then
      local r = cjson.decode(line)
      if type(r) == "table" then out[#out + 1] = r end
    end
  end
  f:close()
  return out
end

--- Render a record as the handset shows it: title, text and buttons in a box.
-- @tparam table r outbox record
-- @treturn string
function _M.handset(r)
  local lines = { "+-- KakaoTalk AlimTalk to " .. tostring(r.to) .. " --" }
  local function add(s)
    for l in (tostring(s) .. "\n"):gmatch("(.-)\n") do lines[#lines + 1] = "| " .. l end
  end
  if type(r.header) == "string" then add(r.header) end
  if type(r.title) == "string" then add("[" .. r.title .. "]") end
  add(r.text or "")
  if type(r.buttons) == "table" then
    for _, b in ipairs(r.buttons) do
      local link = b.url_mobile
      add("  [ " .. tostring(b.name) .. " ]" .. (type(link) == "string" and ("  -> " .. link) or ""))
    end
  end
  lines[#lines + 1] = "+--"
  return table.concat(lines, "\n")
end

return _M
