--- A strict reader of the Prometheus text exposition format (0.0.4) for specs, written from
-- the format's rules (not from alimtalk.metrics), and helpers over what it read.
--
--     local prom = require "support.prometheus"
--     local families, samples = prom.parse(text)  -- raises on any malformed line
--     prom.sum(samples, "alimtalk_messages_total", { status = "accepted" })
--     prom.check_histogram(samples, "alimtalk_send_seconds", { provider = "sens" }) -- the count
local _M = {}

-- A strict reader of the text exposition format (0.0.4): every line is a HELP or TYPE
-- comment or a sample `name{label="value",...} number`; label values unescaped; every sample
-- belongs to the family its TYPE announced just before; TYPE comes once per family.
function _M.parse(text)
  assert(text:sub(-1) == "\n", "the text must end with a line feed")
  local families, samples, current = {}, {}, nil
  for line in text:gmatch("([^\n]*)\n") do
    if line:sub(1, 1) == "#" then
      local kind, name, rest = line:match("^# (%u+) ([%a_:][%w_:]*) (.*)$")
      assert(kind == "HELP" or kind == "TYPE", "bad comment line: " .. line)
      families[name] = families[name] or {}
      if kind == "TYPE" then
        assert(not families[name].type, "TYPE twice for " .. name)
        assert(rest == "counter" or rest == "histogram" or rest == "gauge", line)
        families[name].type = rest
        current = name
      else
        assert(not rest:find("\n"), line)
        families[name].help = rest
      end
    else
      local name, labels, value = line:match("^([%a_:][%w_:]*){(.*)} (%S+)$")
      if not name then name, value = line:match("^([%a_:][%w_:]*) (%S+)$") labels = "" end
      assert(name, "bad sample line: " .. line)
      local v = tonumber(value) or (value == "+Inf" and math.huge) or (value == "NaN" and 0 / 0)
      assert(v, "bad value: " .. line)
      local fam = families[current]
      assert(fam and fam.type, "sample before its TYPE: " .. line)
      if fam.type == "histogram" then
        assert(name == current .. "_bucket" or name == current .. "_sum" or name == current .. "_count",
               name .. " is not part of histogram " .. current)
      else
        assert(current == name, name .. " under the TYPE of " .. tostring(current))
      end
      local l, pos = {}, 1
      while pos <= #labels do
        local k, p2 = labels:match('^([%a_][%w_]*)="()', pos)
        assert(k, "bad labels at " .. pos .. ": " .. labels)
        local out, i = {}, p2
        while true do
          local ch = labels:sub(i, i)
          assert(ch ~= "" and ch ~= "\n", "unterminated label value: " .. labels)
          if ch == "\\" then
            local nx = labels:sub(i + 1, i + 1)
            local map = { ["\\"] = "\\", ['"'] = '"', n = "\n" }
            assert(map[nx], "bad escape \\" .. nx)
            out[#out + 1] = map[nx]
            i = i + 2
          elseif ch == '"' then
            i = i + 1
            break
          else
            out[#out + 1] = ch
            i = i + 1
          end
        end
        assert(l[k] == nil, "label " .. k .. " twice")
        l[k] = table.concat(out)
        pos = i
        if labels:sub(pos, pos) == "," then pos = pos + 1 end
      end
      samples[#samples + 1] = { name = name, labels = l, value = v }
    end
  end
  return families, samples
end

-- Samples of `name` whose labels include every one in `want`, summed.
function _M.sum(samples, name, want)
  local n = 0
  for _, s in ipairs(samples) do
    if s.name == name then
      local ok = true
      for k, v in pairs(want or {}) do if s.labels[k] ~= v then ok = false end end
      if ok then n = n + s.value end
    end
  end
  return n
end

-- A histogram's buckets for one label set, in the order given, checked: le increasing,
-- counts non-decreasing, +Inf last and equal to _count.
function _M.check_histogram(samples, name, want)
  local last_le, last_n, inf
  for _, s in ipairs(samples) do
    if s.name == name .. "_bucket" and s.labels.provider == want.provider then
      local le = s.labels.le == "+Inf" and math.huge or tonumber(s.labels.le)
      assert(le, "le must be a number")
      if last_le then
        assert(le > last_le, "le increases")
        assert(s.value >= last_n, "bucket counts never decrease")
      end
      last_le, last_n = le, s.value
      if le == math.huge then inf = s.value end
    end
  end
  assert(last_le == math.huge, "the +Inf bucket comes last")
  assert(_M.sum(samples, name .. "_count", want) == inf, "the +Inf bucket equals _count")
  return inf
end

return _M
