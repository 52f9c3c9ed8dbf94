#!/usr/bin/env bash
# Start or stop the OpenResty example on a private nginx.
#   examples/openresty/run.sh start RUNDIR [PORT]   (PORT default 8080; prints the pid)
#   examples/openresty/run.sh stop RUNDIR
# CA_FILE names the CA bundle for HTTPS to providers (default: the system's).
# NGINX_USER ("user [group]") is who the workers run as when root starts nginx (default root, so
# a checkout in a folder other users cannot enter works); they must be able to read the
# checkout and $ALIMTALK_CONFIG, which is checked before nginx starts.
# Set ALIMTALK_CONFIG (a JSON file: { "provider": ..., "<provider>": {...}, "templates": ... },
# secrets by *_env names) and the secret variables before starting.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cmd=${1:-}; run=${2:-}
[ -n "$cmd" ] && [ -n "$run" ] || { echo "usage: $0 start|stop RUNDIR [PORT]" >&2; exit 2; }
case "$cmd" in
  start)
    port=${3:-8080}
    mkdir -p "$run"
    run=$(cd "$run" && pwd)
    ca=${CA_FILE:-/etc/ssl/certs/ca-certificates.crt}
    if [ "$(id -u)" = 0 ]; then
      user=${NGINX_USER:-root}
      name=${user%% *}
      if [ "$name" != root ]; then
        for f in "$root/lua/alimtalk/init.lua" "$here/app.lua" "$root/build/luajit/alimtalk/core.so" \
                 ${ALIMTALK_CONFIG:+"$ALIMTALK_CONFIG"}; do
          runuser -u "$name" -- test -r "$f" || {
            echo "$0: nginx workers run as $name, who cannot read $f (set NGINX_USER, or make" \
                 "the checkout readable to $name)" >&2; exit 1; }
        done
      fi
      userline="s|@USER@|$user|"
    else
      userline="/^user @USER@;/d"   # the workers run as whoever starts nginx
    fi
    sed -e "$userline" -e "s|@ROOT@|$root|g" -e "s|@RUNDIR@|$run|g" -e "s|@PORT@|$port|g" \
      -e "s|@CA_FILE@|$ca|g" "$here/nginx.conf" > "$run/nginx.conf"
    nginx -p "$run" -e "$run/error.log" -c "$run/nginx.conf"
    for _ in $(seq 50); do [ -s "$run/nginx.pid" ] && break; sleep 0.05; done
    cat "$run/nginx.pid"
    ;;
  stop)
    [ -s "$run/nginx.pid" ] || exit 0
    pid=$(cat "$run/nginx.pid")
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$pid" 2>/dev/null || true
    ;;
  *) echo "usage: $0 start|stop RUNDIR [PORT]" >&2; exit 2 ;;
esac
