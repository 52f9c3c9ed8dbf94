--- Progress display for bulk campaigns: a bar redrawn in place on a terminal (count, rate,
-- ETA), plain lines at an interval otherwise (logs, cron mail).
-- @module alimtalk.bulk.progress
local sys = require("alimtalk.bulk.sys")

local _M = {}

local mt = { __name = "alimtalk.bulk.progress" }
local methods = {}
mt.__index = methods

local function clock(s)
  if not s or s ~= s or s == math.huge or s < 0 then return "--:--" end
  s = math.floor(s + 0.5)
  local floor = math.floor
  if s >= 3600 then return string.format("%d:%02d:%02d", floor(s / 3600), floor((s % 3600) / 60), s % 60) end
  return string.format("%d:%02d", floor(s / 60), s % 60)
end

--- Make a progress display.
-- @tparam table opts `mode` = `"auto"` (bar on a terminal, lines otherwise), `"bar"`,
-- `"lines"` or `"none"`; `out` (default io.stderr); `interval` seconds between lines (default 5)
function _M.new(opts)
  opts = opts or {}
  for k in pairs(opts) do
    if k ~= "mode" and k ~= "out" and k ~= "interval" then
      error("alimtalk.bulk.progress.new: unknown option '" .. tostring(k) .. "'", 2)
    end
  end
  local mode = opts.mode or "auto"
  if mode == "auto" then mode = sys.isatty(2) and "bar" or "lines" end
  return setmetatable({ mode = mode, out = opts.out or io.stderr, interval = opts.interval or 5,
                        last = 0, t0 = sys.now() }, mt)
end

--- Show the state.
-- @tparam table s `done` (rows handled this run), `total_done` (rows handled in all runs),
-- `sent` (messages the provider answered for this run), `fraction` (0..1 of the input read),
-- `not_tried` (the run stopped early: rows it left for a resume)
-- @tparam[opt] boolean final the last call
function methods:update(s, final)
  if self.mode == "none" then return end
  local now = sys.now()
  if not final and now - self.last < (self.mode == "bar" and 0.2 or self.interval) then return end
  local shown = s.total_done or s.done or 0
  -- the closing line repeats nothing a line just said
  if final and self.mode == "lines" and self.shown == shown and now - self.last < self.interval
    and not s.not_tried then
    return
  end
  self.last, self.shown = now, shown
  local elapsed = math.max(now - self.t0, 1e-6)
  local rate = (s.sent or 0) / elapsed
  local frac = math.min(math.max(s.fraction or 0, 0), 1)
  local eta
  if frac >= 1 then eta = 0
  elseif frac > 0 then eta = elapsed * (1 - frac) / math.max(frac - (s.start_fraction or 0), 1e-9) end
  -- a stopped run has no ETA: it says how many rows it left untried instead
  local tail = s.not_tried and string.format("stopped, %d rows not tried", s.not_tried)
    or ("ETA " .. clock(eta))
  if self.mode == "bar" then
    local width = 30
    local filled = math.floor(frac * width + 0.5)
    self.out:write(string.format("\r[%s%s] %3d%% %d rows  %.0f msg/s  %s ",
      string.rep("#", filled), string.rep(".", width - filled), math.floor(frac * 100),
      s.total_done or s.done or 0, rate, tail))
    if final then self.out:write("\n") end
  else
    self.out:write(string.format("bulk: %d rows (%d%%), %.0f msg/s, %s\n",
      s.total_done or s.done or 0, math.floor(frac * 100), rate, tail))
  end
  self.out:flush()
end

--- Print a one-line notice (a pause, a stop) without breaking the bar.
function methods:note(text)
  if self.mode == "none" then return end
  if self.mode == "bar" then self.out:write("\n") end
  self.out:write("bulk: ", text, "\n")
  self.out:flush()
end

return _M
