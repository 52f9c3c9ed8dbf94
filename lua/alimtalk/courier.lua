--- Delivery-tracking (DS) button checks: supported couriers and their invoice number formats.
-- Kakao shows the DS button only when the message names a supported courier and carries an
-- invoice number in that courier's format; otherwise the button is silently dropped (seed
-- 001, "List of supported couriers"). The names are the seed's, plus the Korean names the
-- couriers use in messages (public knowledge; extend with `add`).
-- @module alimtalk.courier
local errors = require "alimtalk.errors"

local _M = {}

-- (called for most values a DS check tries: no method lookup through the string metatable)
local str_lower, str_find = string.lower, string.find

-- Format pieces: {"d", n} n digits; {"d", lo, hi} lo..hi digits; {"A", n} n uppercase
-- letters; {"sep", "-_"} one separator from the set.
local function digits(lo, hi) return { "d", lo, hi or lo } end
local function upper(n) return { "A", n, n } end
local function sep(set) return { "sep", set } end

local COURIERS = {
  { id = "epost", names = { "ePOST Korea", "Korea Post", "우체국택배", "우체국" },
    formats = { { digits(13) }, { digits(6), sep("-_"), digits(7) } } },
  { id = "logen", names = { "Logen", "로젠택배", "로젠" },
    formats = { { digits(11) }, { digits(3), sep("-_"), digits(4), sep("-_"), digits(4) } } },
  { id = "ilyang", names = { "ILYANG Logis", "ILYANG", "일양로지스" }, formats = { { digits(9, 11) } } },
  { id = "fedex", names = { "FedEx", "FedEX", "fedex", "페덱스" }, formats = { { digits(12) } } },
  { id = "hanjin", names = { "HANJIN TRANSPORTATION", "Hanjin", "한진택배" },
    formats = { { digits(10) }, { digits(12) } } },
  { id = "kdexp", names = { "KYOUNGDONG EXPRESS", "경동택배" },
    formats = { { digits(9, 16) }, { digits(4), sep("-"), digits(3), sep("-"), digits(6) } } },
  { id = "hdexp", names = { "HAPDONG EXPRESS", "합동택배" }, formats = { { digits(9, 16) } } },
  { id = "hyundai", names = { "Hyundai Logistics", "현대택배", "롯데택배" },
    formats = { { digits(12) }, { digits(4), sep("-"), digits(4), sep("-"), digits(4) } } },
  { id = "nonghyup", names = { "Nonghyup Logis", "농협택배" }, formats = { { digits(12) } } },
  { id = "chunil", names = { "CHUNIL PARCEL", "천일택배" }, formats = { { digits(11) } } },
  { id = "cupost", names = { "CUpost", "CU post", "CU편의점택배" },
    formats = { { digits(10) }, { digits(12) }, { digits(4), sep("-_"), digits(4), sep("-_"), digits(4) } } },
  { id = "cvsnet", names = { "CVSnet convenience store logistics", "GS postbox",
      "GS convenience store logistics", "GS편의점택배", "GS Postbox 택배" },
    formats = { { digits(10) }, { digits(12) }, { digits(4), sep("-_"), digits(4), sep("-_"), digits(4) } } },
  { id = "handex", names = { "Handex", "한덱스" }, formats = { { digits(10) }, { digits(14) } } },
  { id = "tnt", names = { "TNT Express", "TNTExpress" }, formats = { { digits(8, 9) } } },
  { id = "usps", names = { "USPS" },
    formats = { { digits(10) }, { digits(22) }, { upper(2), digits(9), upper(2) } } },
  { id = "ems", names = { "EMS" }, formats = { { upper(2), digits(9), upper(2) } } },
  { id = "dhl", names = { "DHL" }, formats = { { digits(10) } } },
  { id = "goodstoluck", names = { "GOODSTOLUCK", "굿투럭" },
    formats = { { digits(4), sep("-"), digits(4), sep("-"), digits(4) } } },
}

local by_name = {}
local function index()
  by_name = {}
  for _, c in ipairs(COURIERS) do
    for _, n in ipairs(c.names) do by_name[n:lower()] = c end
  end
end
index()

-- Compile a format into a Lua pattern, with the length of the texts it can match: a format
-- of fixed-size pieces matches one length only, checked before the pattern (most values a DS
-- check tries fail there), and a single run of digits (or letters) is then one repeated class
-- ("^%d+$"), cheaper to match than one class per character. A single run of variable length
-- has bounds instead, which patterns cannot count.
local function compile(fmt)
  if #fmt == 1 and fmt[1][1] ~= "sep" then
    return { pat = fmt[1][1] == "d" and "^%d+$" or "^%u+$", min = fmt[1][2], max = fmt[1][3] }
  end
  local p, n = { "^" }, 0
  for _, piece in ipairs(fmt) do
    if piece[1] == "sep" then
      p[#p + 1] = "[" .. piece[2]:gsub("%-", "%%-") .. "]"
      n = n + 1
    else
      assert(piece[2] == piece[3], "courier: a digit range is only allowed as the whole format")
      p[#p + 1] = (piece[1] == "d" and "%d" or "%u"):rep(piece[2])
      n = n + piece[2]
    end
  end
  p[#p + 1] = "$"
  return { pat = table.concat(p), min = n, max = n }
end

-- Whether s matches one format exactly.
local function match_format(s, fmt)
  local c = fmt.compiled
  if not c then c = compile(fmt); fmt.compiled = c end
  local n = #s
  return n >= c.min and n <= c.max and str_find(s, c.pat) ~= nil
end

--- Find a courier by one of its names (case-insensitive).
-- @treturn table `{ id =, names =, formats = }` or nil
function _M.find(name)
  -- the names are stored lower-cased (strings), so a name found as given is a string and
  -- needs no lower()
  local c = by_name[name]
  if c == nil and type(name) == "string" then c = by_name[str_lower(name)] end
  return c
end

--- Check a courier name and an invoice number.
-- @tparam string name the courier's name as written in the message
-- @tparam string invoice the invoice number
-- @treturn boolean true, or nil and an error `BAD_COURIER` (unsupported courier: Kakao adds
-- no button) or `BAD_INVOICE` (number not in the courier's format)
function _M.check(name, invoice)
  local c = _M.find(name)
  if not c then
    return nil, errors.new{ code = "BAD_COURIER", field = "courier",
      message = string.format("%s is not a courier Kakao tracks; the DS button will not be added; "
        .. "use a WL button to the tracking page", tostring(name)) }
  end
  if type(invoice) ~= "string" then invoice = invoice and tostring(invoice) or "" end
  for _, fmt in ipairs(c.formats) do
    if match_format(invoice, fmt) then return true end
  end
  return nil, errors.new{ code = "BAD_INVOICE", field = "invoice",
    message = string.format("%q is not a %s invoice number", invoice, c.names[1]) }
end

--- Look for a supported courier and an invoice number in a message text (what Kakao does
-- to build the DS button).
-- @tparam string text the message content
-- @treturn string|nil the courier name found, string|nil an invoice number valid for it
function _M.scan(text)
  local lower = text:lower()
  local best, best_at
  for name in pairs(by_name) do
    local from = 1
    while true do
      local s, e = lower:find(name, from, true)
      if not s then break end
      -- a Latin name must stand as a word ("ems" inside "items" is not EMS)
      local before, after = lower:sub(s - 1, s - 1), lower:sub(e + 1, e + 1)
      if not (before:match("%a") or after:match("%a")) then
        if not best or s < best_at or (s == best_at and #name > #best) then best, best_at = name, s end
        break
      end
      from = s + 1
    end
  end
  if not best then return nil end
  local c = by_name[best]
  return c.names[1], _M.invoice_in(c, text)
end

--- The first invoice number in a text valid for a courier (a name or a courier table).
-- @treturn string|nil the invoice number
function _M.invoice_in(c, text)
  -- a courier table has formats; a name (a string) has none and is looked up
  local formats = c and c.formats
  if formats == nil and type(c) == "string" then
    c = by_name[c:lower()]
    formats = c and c.formats
  end
  if not c then return nil end
  for i = 1, #formats do
    if match_format(text, formats[i]) then return text end
  end
  for token in text:gmatch("[%w%-_]+") do
    for _, fmt in ipairs(c.formats) do
      if match_format(token, fmt) then return token end
    end
  end
  return nil
end

--- Register another courier (or more names for one).
-- @tparam table c `{ id =, names = { ... }, formats = { { {"d", lo, hi}, {"sep", "-"}, ... } } }`
function _M.add(c)
  assert(type(c) == "table" and type(c.names) == "table" and type(c.formats) == "table",
    "courier.add: bad courier")
  COURIERS[#COURIERS + 1] = c
  index()
end

return _M
