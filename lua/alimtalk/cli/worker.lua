--- `alimtalk worker`: drain a send queue in Redis (alimtalk.queue, docs/scale-out.md).
-- @module alimtalk.cli.worker
local queue_cli = require("alimtalk.queue.cli")

local _M = {}

_M.help = queue_cli.worker_help

--- Run `alimtalk worker`.
-- @tparam table args arguments after the command name
-- @treturn integer exit code
function _M.main(args)
  return queue_cli.worker(args)
end

return _M
