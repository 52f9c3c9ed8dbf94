#!/usr/bin/env bash
# Capacity of the sandbox server, measured with wrk over keep-alive on loopback against a bare
# nginx on the same setup (same worker count, access log off) in the same run:
# 1. one-message SENS sends (signature verified, JSON decoded, validated, stored), 16
#    connections, against a bare `return 200`. Goal: >= 15,000 req/s for the sandbox.
# 2. 100-message SENS batches (issue 5's bulk shape: ORDER_SHIPPED with two buttons, every
#    message different and valid), 8 connections, against a bare nginx answering the same
#    bytes (it reads the same request body and sends the sandbox's own answer as a static
#    file): messages/s, the ratio, and the sandbox workers' CPU per message (utime + stime
#    from /proc, so it does not depend on how the connections spread over the workers).
#    Goal: <= 8 us of worker CPU per message.
#   DURATION=5 CONNECTIONS=16 THREADS=2 RUNS=3 BATCH=100 BATCH_CONNECTIONS=8 bash bench/sandbox_bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DURATION=${DURATION:-5}
CONNECTIONS=${CONNECTIONS:-16}
THREADS=${THREADS:-2}
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)"; exit 1; }

RUN=$(mktemp -d /tmp/alimtalk-sandbox-bench.XXXXXX)
SANDBOX_PID="" BARE_PID=""
cleanup() {
  [ -n "$SANDBOX_PID" ] && kill -TERM "$SANDBOX_PID" 2>/dev/null || true
  [ -n "$BARE_PID" ] && kill -TERM "$BARE_PID" 2>/dev/null || true
  sleep 0.3
  rm -rf "$RUN"
}
trap cleanup EXIT

export LUA_PATH="$ROOT/lua/?.lua;$ROOT/lua/?/init.lua;${LUA_PATH:-;}"
# The sandbox, started through its own API, with the same 2 workers the bare nginx gets.
read -r URL SERVICE AK SK < <(lua5.4 - "$RUN/sandbox" "$ROOT/spec/fixtures/templates.json" <<'LUA'
local server = require "alimtalk.sandbox.server"
local s = assert(server.start{ run_dir = arg[1], templates = arg[2], tls = false, workers = 2,
  shm_size = "256m" })
local c = s.credentials.sens
print(s.http_url, c.service_id, c.access_key, c.secret_key)
LUA
)
SANDBOX_PID=$(cat "$RUN/sandbox/nginx.pid")

# Bare nginx: same directives, `return 200`.
mkdir -p "$RUN/bare/tmp"
USER_LINE=""; [ "$(id -u)" = 0 ] && USER_LINE="user root;"
for _ in $(seq 1 20); do
  PORT=$((20000 + RANDOM % 40000))
  cat >"$RUN/bare/nginx.conf" <<CONF
$USER_LINE
daemon on;
worker_processes 2;
pid $RUN/bare/nginx.pid;
error_log $RUN/bare/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $RUN/bare/tmp;
  proxy_temp_path $RUN/bare/tmp; fastcgi_temp_path $RUN/bare/tmp;
  uwsgi_temp_path $RUN/bare/tmp; scgi_temp_path $RUN/bare/tmp;
  client_body_buffer_size 1m;
  keepalive_requests 100000000;
  server {
    listen 127.0.0.1:$PORT backlog=4096;
    location / { return 200 "ok"; }
    # the batch baseline: POST answered with a static file (the 405 static answers to POST
    # becomes that file)
    location = /batch { root $RUN/bare/www; error_page 405 =200 \$uri; }
  }
}
CONF
  if nginx -p "$RUN/bare" -e "$RUN/bare/error.log" -c "$RUN/bare/nginx.conf" 2>/dev/null; then break; fi
done
BARE_PID=$(cat "$RUN/bare/nginx.pid")

rate() { awk '/Requests\/sec/ { printf "%d", $2 }' <<<"$1"; }

export ALIMTALK_LUA="$ROOT/lua" SENS_SERVICE="$SERVICE" SENS_ACCESS_KEY="$AK" SENS_SECRET_KEY="$SK"
# A short warm-up of each, then the measured runs.
wrk -t1 -c4 -d1s -s bench/wrk/sandbox_sens.lua "$URL" >/dev/null
wrk -t1 -c4 -d1s "http://127.0.0.1:$PORT/" >/dev/null
# Other programs share this machine's cores: run each side RUNS times, interleaved, and keep
# each side's best (every run is printed).
RUNS=${RUNS:-3}
BARE=0 SBX=0 NON2XX=""
for i in $(seq 1 "$RUNS"); do
  BARE_OUT=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" "http://127.0.0.1:$PORT/")
  SBX_OUT=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" -s bench/wrk/sandbox_sens.lua "$URL" 2>&1)
  b=$(rate "$BARE_OUT"); s=$(rate "$SBX_OUT")
  n=$(awk '/Non-2xx/ { print $5 }' <<<"$SBX_OUT")
  [ -n "$n" ] && NON2XX="$n"
  printf "  run %d: bare %d req/s, sandbox %d req/s\n" "$i" "$b" "$s"
  [ "$b" -gt "$BARE" ] && BARE=$b
  [ "$s" -gt "$SBX" ] && SBX=$s
done
STORED=$(lua5.4 - "$RUN/sandbox" <<'LUA'
local s = require("alimtalk.sandbox.server").attach(arg[1])
local a = s:attempts({ limit = 1 })
print(string.format("%d", a and a[1] and a[1].seq or 0))
LUA
)

# 2. 100-message batches.
BATCH=${BATCH:-100}
BATCH_CONNECTIONS=${BATCH_CONNECTIONS:-8}
mkdir -p "$RUN/bare/www"
SENS_BATCH=$BATCH SENS_SAVE_ANSWER="$RUN/bare/www/batch" \
  wrk -t1 -c4 -d1s -s bench/wrk/sandbox_sens.lua "$URL" >/dev/null
ANSWER_BYTES=$(wc -c <"$RUN/bare/www/batch")
[ "$ANSWER_BYTES" -gt 1000 ] || { echo "no batch answer captured"; exit 1; }
TICKS=$(getconf CLK_TCK)
worker_ticks() {
  local total=0 pid
  for pid in $(pgrep -P "$SANDBOX_PID"); do
    total=$((total + $(awk '{ print $14 + $15 }' "/proc/$pid/stat")))
  done
  echo "$total"
}
BBARE=0 BSBX=0 BCPU="" BNON2XX=""
for i in $(seq 1 "$RUNS"); do
  BARE_OUT=$(SENS_BATCH=$BATCH SENS_BARE=1 wrk -t1 -c"$BATCH_CONNECTIONS" -d"${DURATION}s" \
    -s bench/wrk/sandbox_sens.lua "http://127.0.0.1:$PORT/batch" 2>&1)
  t0=$(worker_ticks)
  SBX_OUT=$(SENS_BATCH=$BATCH wrk -t1 -c"$BATCH_CONNECTIONS" -d"${DURATION}s" \
    -s bench/wrk/sandbox_sens.lua "$URL" 2>&1)
  t1=$(worker_ticks)
  b=$(rate "$BARE_OUT"); s=$(rate "$SBX_OUT")
  n=$(awk '/ requests in / { print $1 }' <<<"$SBX_OUT")
  x=$(awk '/Non-2xx/ { print $5 }' <<<"$SBX_OUT")
  [ -n "$x" ] && BNON2XX="$x"
  cpu=$(awk -v t="$((t1 - t0))" -v hz="$TICKS" -v n="$n" -v k="$BATCH" \
    'BEGIN { printf "%.2f", t / hz * 1e6 / (n * k) }')
  printf "  batch run %d: bare %d req/s, sandbox %d req/s = %d msgs/s, %s us worker CPU/message\n" \
    "$i" "$b" "$s" "$((s * BATCH))" "$cpu"
  [ "$b" -gt "$BBARE" ] && BBARE=$b
  [ "$s" -gt "$BSBX" ] && BSBX=$s
  if [ -z "$BCPU" ] || awk -v a="$cpu" -v b="$BCPU" 'BEGIN { exit !(a < b) }'; then BCPU=$cpu; fi
done

echo "wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s, keep-alive, loopback, 2 nginx workers, best of $RUNS"
printf "  bare nginx return 200          %8d req/s\n" "$BARE"
printf "  sandbox SENS 1-message send    %8d req/s  (%s attempts logged, non-2xx: %s)\n" \
  "$SBX" "$STORED" "${NON2XX:-0}"
awk -v s="$SBX" -v b="$BARE" 'BEGIN { printf "  ratio sandbox/bare             %8.3f\n", s / b }'
echo "wrk -t1 -c$BATCH_CONNECTIONS -d${DURATION}s, $BATCH-message SENS batches ($ANSWER_BYTES-byte answers), best of $RUNS"
printf "  bare nginx, same bytes         %8d req/s\n" "$BBARE"
printf "  sandbox SENS %d-message send  %8d req/s = %d msgs/s  (non-2xx: %s)\n" \
  "$BATCH" "$BSBX" "$((BSBX * BATCH))" "${BNON2XX:-0}"
awk -v s="$BSBX" -v b="$BBARE" 'BEGIN { printf "  ratio sandbox/bare             %8.3f\n", s / b }'
printf "  sandbox worker CPU per message %8s us (best run)\n" "$BCPU"
if grep -q "\[error\]" "$RUN/sandbox/error.log"; then
  echo "sandbox error log has errors:"; grep "\[error\]" "$RUN/sandbox/error.log" | head -5; exit 1
fi
if [ -n "${NON2XX:-}" ]; then echo "some sandbox answers were not 2xx"; exit 1; fi
if [ -n "${BNON2XX:-}" ]; then echo "some sandbox batch answers were not 2xx"; exit 1; fi
status=0
if [ "$SBX" -lt 15000 ]; then echo "below the 15,000 req/s goal"; status=1; fi
if awk -v c="$BCPU" 'BEGIN { exit !(c > 8) }'; then
  echo "above the goal of 8 us of worker CPU per batched message"; status=1
fi
exit $status
