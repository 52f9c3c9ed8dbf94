-- Policy: one-time codes through API PLEX's verification product, SENS as the fallback.
--
-- The client has API PLEX configured with `service_id = "at-verify"` (seed 004: "verification
-- alim talk") and SENS. Authentication templates (the registry's `authentication = true`, or a
-- name listed below) go to API PLEX first; when API PLEX certainly did not take one (down, 5xx,
-- circuit open, invalid there) the client fails over to SENS. Everything else goes through SENS
-- alone: the at-verify product is for verification messages only. The SMS/LMS text of a code
-- is shorter than the AlimTalk body (a text message costs by length).
--
--     alimtalk.new{ providers = { apiplex = { service_id = "at-verify", ... }, sens = { ... } },
--                   route = { "sens", "apiplex" }, templates = "templates.json",
--                   policy = "examples/policies/otp_verify.lua" }
local OTP = { login_code = true }

local function is_code(msg, ctx)
  return (ctx.template and ctx.template.authentication) or OTP[msg.template] or false
end

return {
  route = function(msg, ctx)
    if is_code(msg, ctx) then return { "apiplex", "sens" } end
    return { "sens" }
  end,

  fallback = function(msg, ctx)
    if is_code(msg, ctx) and type(msg.vars) == "table" and msg.vars.code then
      return "[쇼핑몰] 인증번호 " .. tostring(msg.vars.code)
    end
  end,
}
