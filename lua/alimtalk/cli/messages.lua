--- Messages for `render` and `validate`: the template registry, rendering a message from it,
-- and reading a file of messages (CSV or JSON lines, streamed with alimtalk.bulk.input).
-- @module alimtalk.cli.messages
local input = require("alimtalk.bulk.input")
local errors = require("alimtalk.errors")

local _M = {}

--- What the commands say when a template with variables meets no registry: without one the
-- name would be taken as a provider code and the variables could not be filled in.
_M.NO_REGISTRY = "no template registry: pass --templates FILE or set templates in the config"

--- Whether a message names a template with variables (so it needs a registry to render).
function _M.needs_registry(msg)
  return type(msg) == "table" and msg.template ~= nil and msg.content == nil
    and type(msg.vars) == "table" and next(msg.vars) ~= nil
end

--- The violation reported for a message that needs a registry when none is configured.
function _M.no_registry_error(msg)
  return errors.new{ code = "NO_REGISTRY", field = "template", message = _M.NO_REGISTRY
    .. " (template '" .. tostring(msg.template) .. "' has variables to fill in)" }
end

--- Load the registry named by `--templates` or the configuration.
-- @treturn registry or nil and a message (false when none is configured and `optional`)
function _M.registry(opts, cfg, optional)
  local path = opts.templates or cfg.templates
  if not path then
    if optional then return false end
    return nil, _M.NO_REGISTRY
  end
  local reg, e = require("alimtalk.registry").load(path)
  if not reg then return nil, tostring(e) end
  return reg
end

--- Render a message's texts from its registry template.
-- @treturn table `{ template, text, title, header, item_highlight, items, summary, buttons }`
-- or nil and an error (each missing variable once, naming the first part that needs it)
function _M.render(reg, msg)
  local template = require("alimtalk.template")
  if msg.content and not msg.template then
    return { text = msg.content }
  end
  local e = reg:get(msg.template)
  if not e then
    return nil, errors.new{ code = "TEMPLATE_NOT_FOUND", field = "template", provider_code = "3015",
                            message = "template '" .. tostring(msg.template) .. "' is not in the registry" }
  end
  local vars = msg.vars or {}
  local out = { template = e.name }
  -- Each field is rendered for its own variables; a variable that none of the template's
  -- fields (body, title, header, item list, buttons) uses is checked once, across all of them.
  local errs, seen = {}, {}
  local function render(t, where)
    local s, err = template.render(t, vars, { field = "vars", allow_unknown = true })
    if not s then
      for _, x in ipairs(err.errors or { err }) do
        if x.code ~= "MISSING_VARIABLE" or not seen[x.field] then
          if x.code == "MISSING_VARIABLE" then
            seen[x.field] = true
            x.message = x.message:gsub(" is used by the template ", " is used by the template's "
              .. where .. " ", 1)
          end
          errs[#errs + 1] = x
        end
      end
    end
    return s
  end
  if msg.content then
    local ok, err = template.match(e.body, msg.content)
    if not ok then return nil, err end
    out.text = msg.content
  else
    out.text = render(e.body, "content")
  end
  for _, k in ipairs({ "title", "header" }) do
    if e[k] then out[k] = render(e[k], k) end
  end
  local function pair(p, where)
    return { title = p.title and render(p.title, where .. ".title"),
             description = p.description and render(p.description, where .. ".description"),
             image = p.image }
  end
  if e.item_highlight then out.item_highlight = pair(e.item_highlight, "item_highlight") end
  if e.items then
    out.items = {}
    for i, it in ipairs(e.items) do out.items[i] = pair(it, "items[" .. i .. "]") end
  end
  if e.summary then out.summary = pair(e.summary, "summary") end
  if e.buttons then
    out.buttons = {}
    for i, b in ipairs(e.buttons) do
      -- `parts` names the button's text fields (the registry's parsed entry has no others)
      local ob = { type = b.type }
      for _, k in ipairs(b.parts or {}) do ob[k] = render(b[k], "buttons[" .. i .. "]." .. k) end
      out.buttons[i] = ob
    end
  end
  local used = e.varset or {}
  for k in pairs(vars) do
    if not used[k] then
      errs[#errs + 1] = errors.new{ code = "UNKNOWN_VARIABLE", field = "vars." .. tostring(k),
        message = "variable " .. tostring(k) .. " is not used by template '" .. e.name .. "'" }
    end
  end
  if #errs > 0 then return nil, errors.collect(errs) end
  return out
end

-- The campaign name validate's serials are derived from when none is given: a serial's value
-- does not change a verdict, only its presence and form do.
_M.SERIAL_CAMPAIGN = "validate"

--- Tell a command-line user how to give a required serial: a REQUIRED violation of `id`
-- (BizMessage's cid) gets "(--id SERIAL)" appended, in `err` and every one of `err.errors`.
function _M.hint_id(err)
  if type(err) ~= "table" then return err end
  for _, v in ipairs(err.errors or {}) do _M.hint_id(v) end
  if err.field == "id" and err.code == "REQUIRED" and type(err.message) == "string"
     and not err.message:find("--id", 1, true) then
    err.message = err.message .. " (--id SERIAL)"
  end
  return err
end

--- Why a file cannot be rendered or checked without `--template` (as `bulk run` refuses it):
-- a CSV without a 'template' column, or JSON lines whose first message has neither template
-- nor content, would fail on every row.
-- @treturn string|nil the one-line reason, nil when the file names its templates (or cannot
-- be read: `each` reports that)
function _M.no_template(path, format)
  local reader = input.open(path, { format = format })
  if not reader then return nil end
  local why
  if reader.format == "csv" then
    local has = false
    for _, name in ipairs(reader.header or {}) do
      if name == "template" then has = true end
    end
    if not has then why = path .. " has no 'template' column" end
  else
    local _, t = reader:next()
    if type(t) == "table" and t.template == nil and t.content == nil then
      why = "the first message of " .. path .. " has no template"
    end
  end
  reader:close()
  return why and ("no template: give --template NAME (" .. why .. ")")
end

--- Call `fn(row, msg)` (or `fn(row, nil, reason)`) for each message in a file, each message as
-- `bulk run` builds it (alimtalk.bulk.campaign): CSV has a header row, `to` (or `phone`, or
-- `opts.to_column`) is the recipient, `template` optional, every other column a variable except
-- the key column (`opts.key_column`), which is one only when the row's template uses it. Each
-- message's `id` is the serial `bulk run` gives it, derived from the key column's value or the
-- row number (JSON lines: the message's own `id` when it has one), so a provider that needs a
-- serial (BizMessage) checks the file as it would be sent.
-- @tparam string path the file
-- @tparam table opts `format`, `template`, `to_column`, `key_column`, `campaign`, `need_to` (a
-- CSV without the recipient column is refused, as bulk run refuses it; render needs none),
-- `check_serials` (a row whose serial an earlier row has is reported as DUPLICATE_ID, as bulk
-- run refuses it)
-- @tparam[opt] registry reg the template registry (whether a template uses the key column)
-- @treturn true or nil and a message
function _M.each(path, opts, fn, reg)
  local next_row, e, warning = require("alimtalk.bulk.campaign").rows{ input = path, format = opts.format,
    template = opts.template, to_column = opts.to_column, key_column = opts.key_column,
    campaign = opts.campaign or _M.SERIAL_CAMPAIGN, registry = reg, need_to = opts.need_to or false,
    check_serials = opts.check_serials }
  if not next_row then return nil, tostring(e.message or e) end
  if warning then io.stderr:write("alimtalk: warning: ", warning, "\n") end
  for row, msg, err in next_row do
    if msg then fn(row, msg) else fn(row, nil, err) end
  end
  return true
end

return _M
