-- Bulk from CSV: send a shipping notice to every row of customers.csv as a resumable campaign.
--
-- Each row gets a serial derived from the campaign id and the row, the journal is written
-- before every request, so if this script is killed, running it again with the same CAMPAIGN
-- resumes where it stopped: nothing lost, nothing sent twice. Invalid rows (customers.csv has
-- a landline number) go to rejects.jsonl with their reasons while the others are sent, and the
-- exit status says so (1), as the command line's does.
--
-- With no settings it uses the embedded sandbox. To send through NAVER Cloud SENS (or the
-- sandbox server, which speaks SENS), set SENS_BASE_URL, SENS_SERVICE_ID, SENS_PLUS_FRIEND_ID,
-- NCP_ACCESS_KEY, NCP_SECRET_KEY and optionally SENS_CA_FILE. CAMPAIGN names the campaign
-- (default: a new one), STATE_DIR where its files go (default: a temporary folder).
--
-- The same from the command line:
--   alimtalk bulk run examples/customers.csv --campaign notice-1 --template order_shipped
local alimtalk = require "alimtalk"
local campaign = require "alimtalk.bulk.campaign"
local progress = require "alimtalk.bulk.progress"

local here = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
local opts = { templates = here .. "/templates.json" }
if os.getenv("SENS_BASE_URL") then
  opts.provider = "sens"
  opts.sens = {
    base_url = os.getenv("SENS_BASE_URL"),
    service_id = os.getenv("SENS_SERVICE_ID"),
    plus_friend_id = os.getenv("SENS_PLUS_FRIEND_ID"),
    access_key_env = "NCP_ACCESS_KEY",
    secret_key_env = "NCP_SECRET_KEY",
    ca_file = os.getenv("SENS_CA_FILE"),
  }
else
  opts.sandbox = { outbox = os.getenv("ALIMTALK_OUTBOX") or os.tmpname() }
end

local state_dir = os.getenv("STATE_DIR")
if not state_dir then
  state_dir = assert(io.popen("mktemp -d")):read("*l")
end

local client = assert(alimtalk.new(opts))
local summary, err = campaign.run{
  client = client,
  campaign = os.getenv("CAMPAIGN") or ("shipping-" .. os.time()),
  state_dir = state_dir,
  input = here .. "/customers.csv",     -- columns: to, then the template's variables
  template = "order_shipped",
  rate = 50,                            -- messages per second
  progress = progress.new{ mode = "lines" },
}
client:close()
if not summary then
  print("campaign refused: " .. tostring(err))
  os.exit(2)
end

local c = summary.counts
print(("campaign %s: %d accepted, %d invalid, %d rejected, %d uncertain, %d not sent")
  :format(summary.campaign, c.accepted, c.invalid, c.rejected, c.uncertain, c.not_sent))
for _, name in ipairs({ "accepted", "rejects", "rejected", "uncertain", "not_sent" }) do
  print(("  %-10s %s"):format(name, summary.files[name]))
end
local f = io.open(summary.files.rejects)
for line in f:lines() do print("  invalid row: " .. line) end
f:close()
-- Exit status as `alimtalk bulk run` gives it: 0 every row accepted, 3 some uncertain (they
-- may have been sent: reconcile them with `alimtalk status` before resending), 1 otherwise (a
-- row invalid, rejected or not sent, or the campaign stopped). customers.csv has an invalid
-- row, so this script exits 1 after sending the others.
if c.uncertain > 0 then os.exit(3) end
os.exit((summary.stopped or c.invalid > 0 or c.rejected > 0 or c.not_sent > 0) and 1 or 0)
