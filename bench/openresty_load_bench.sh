#!/usr/bin/env bash
# OpenResty under load: the example app (examples/openresty/, one nginx worker) sending SENS
# messages through the cosocket transport to the sandbox server over HTTPS, the sandbox
# answering every send after SEND_DELAY (2) seconds (a `delay` fault). wrk keeps IN_FLIGHT (200)
# sends waiting on the provider while a second wrk measures the p99 latency of the app's
# unrelated location (GET /health). The baseline is the same /health measurement with nothing
# in flight, in the same run. Goal: p99 under load < 50 ms (the sends must never block the
# worker).
#   DURATION=8 IN_FLIGHT=200 SEND_DELAY=2 bash bench/openresty_load_bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DURATION=${DURATION:-8}
IN_FLIGHT=${IN_FLIGHT:-200}
SEND_DELAY=${SEND_DELAY:-2}
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)"; exit 1; }

RUN=$(mktemp -d /tmp/alimtalk-openresty-load.XXXXXX)
cleanup() {
  "$ROOT/examples/openresty/run.sh" stop "$RUN/app" >/dev/null 2>&1 || true
  [ -s "$RUN/sandbox/nginx.pid" ] && kill -TERM "$(cat "$RUN/sandbox/nginx.pid")" 2>/dev/null || true
  sleep 0.3
  rm -rf "$RUN"
}
trap cleanup EXIT

export LUA_PATH="$ROOT/lua/?.lua;$ROOT/lua/?/init.lua;${LUA_PATH:-;}"
# The sandbox (2 workers), every SENS send answered after SEND_DELAY seconds.
read -r HTTPS_PORT CA SERVICE AK SK PF < <(lua5.4 - "$RUN/sandbox" "$ROOT/spec/fixtures/templates.json" "$SEND_DELAY" <<'LUA'
local server = require "alimtalk.sandbox.server"
local s = assert(server.start{ run_dir = arg[1], templates = arg[2], workers = 2,
  shm_size = "256m", delivery_delay = 3600 })
assert(s:fault{ provider = "sens", path = "/messages$", method = "POST", kind = "delay",
                delay = tonumber(arg[3]) })
local c = s.credentials.sens
print(s.https_url:match(":(%d+)$"), s.ca_file, c.service_id, c.access_key, c.secret_key, c.plus_friend_id)
LUA
)

# run.sh runs nginx's workers as root by default; a copy of the CA, world-readable, also serves
# a configuration that makes them run as another user (examples/openresty/run.sh)
chmod 755 "$RUN"
cp "$CA" "$RUN/ca.pem" && chmod 644 "$RUN/ca.pem"
CA="$RUN/ca.pem"
# The app's configuration: SENS at the sandbox over HTTPS (by name: nginx verifies host names).
cat >"$RUN/alimtalk.json" <<JSON
{ "provider": "sens", "templates": "$ROOT/spec/fixtures/templates.json",
  "sens": { "base_url": "https://localhost:$HTTPS_PORT", "access_key": "$AK",
            "secret_key_env": "NCP_SECRET_KEY", "service_id": "$SERVICE",
            "plus_friend_id": "$PF", "timeout": 30 } }
JSON
chmod 644 "$RUN/alimtalk.json"
cat >"$RUN/send.lua" <<'WRK'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"to":"01012345678","template":"welcome","vars":{"name":"홍길동","date":"2026-12-07"}}'
local ok, other = 0, 0
function response(status)
  if status == 200 then ok = ok + 1 else other = other + 1 end
end
WRK

APP_PORT=""
for _ in $(seq 1 20); do
  p=$((20000 + RANDOM % 8000))
  if ALIMTALK_CONFIG="$RUN/alimtalk.json" NCP_SECRET_KEY="$SK" CA_FILE="$CA" \
      "$ROOT/examples/openresty/run.sh" start "$RUN/app" "$p" >/dev/null 2>&1; then
    APP_PORT=$p; break
  fi
done
[ -n "$APP_PORT" ] || { echo "the OpenResty example did not start"; cat "$RUN/app/error.log" 2>/dev/null; exit 1; }
APP="http://127.0.0.1:$APP_PORT"

# one send through the whole path first (and the worker's client made)
first=$(curl -s -m 10 -X POST -H 'Content-Type: application/json' \
  --data '{"to":"01012345678","template":"welcome","vars":{"name":"홍길동","date":"2026-12-07"}}' "$APP/send" || true)
echo "$first" | grep -q '"status":"accepted"' || { echo "a send failed: $first"; tail -n 5 "$RUN/app/error.log" "$RUN/sandbox/error.log"; exit 1; }

p99() { awk '$1 == "99%" { v = $2; if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms$/, "", v) } else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 } printf "%.2f", v }' <<<"$1"; }
rps() { awk '/Requests\/sec/ { printf "%d", $2 }' <<<"$1"; }

wrk -t1 -c4 -d1s "$APP/health" >/dev/null
idle=$(wrk -t1 -c4 -d"${DURATION}s" --latency "$APP/health")

# IN_FLIGHT sends held by the sandbox, started a second ahead so they are all waiting
wrk -t2 -c"$IN_FLIGHT" -d"$((DURATION + 2 + SEND_DELAY))s" --timeout 30s -s "$RUN/send.lua" "$APP/send" \
  >"$RUN/sends.out" 2>&1 &
SENDS=$!
sleep 1.5
load=$(wrk -t1 -c4 -d"${DURATION}s" --latency "$APP/health")
wait $SENDS || true
sends=$(cat "$RUN/sends.out")
sent=$(awk '/requests in/ { print $1 }' <<<"$sends")
errors=$(awk '/Non-2xx|Socket errors/ { print }' <<<"$sends")

idle99=$(p99 "$idle"); load99=$(p99 "$load")
echo "GET /health p99, idle: ${idle99} ms ($(rps "$idle") req/s)"
echo "GET /health p99 with ${IN_FLIGHT} sends in flight (answered after ${SEND_DELAY} s): ${load99} ms ($(rps "$load") req/s)"
echo "sends: $sent answered in $((DURATION + 2 + SEND_DELAY)) s over ${IN_FLIGHT} connections${errors:+; $errors}"
awk -v a="$load99" -v b="$idle99" 'BEGIN { printf "ratio under load / idle: %.2fx\n", (b > 0 ? a / b : 0) }'
# every connection had its sends answered (about one each SEND_DELAY seconds): they were in flight
min_sent=$(( IN_FLIGHT * (DURATION / SEND_DELAY) ))
if [ -z "$sent" ] || [ "$sent" -lt "$min_sent" ]; then
  echo "FAIL: only ${sent:-0} sends answered (expected >= $min_sent): they were not all in flight"; exit 1
fi
if [ -n "$errors" ]; then echo "FAIL: some sends failed"; exit 1; fi
awk -v a="$load99" 'BEGIN { exit !(a < 50) }' || { echo "FAIL: p99 under load is not under 50 ms"; exit 1; }
echo "goal met: p99 under load < 50 ms"
