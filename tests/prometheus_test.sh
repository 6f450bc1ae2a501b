#!/usr/bin/env bash
# A real Prometheus server scrapes a running tradestore: up == 1 and the
# tradestore_http_requests_total series arrive through Prometheus's own
# HTTP API (/api/v1/query).
#
# Both run on loopback on ports of their own (never Prometheus's default
# 9090, where Debian's packaged service may listen), with a temporary
# database and a temporary TSDB; both are killed on exit. Bounded: gives up
# after DEADLINE seconds. Usage: tests/prometheus_test.sh PATH/TO/tradestore
set -euo pipefail

bin=${1:?usage: prometheus_test.sh PATH/TO/tradestore}
DEADLINE=${DEADLINE:-20}
for tool in prometheus curl python3; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool is missing (scripts/deps test installs it)"; exit 1; }
done

tmp=$(mktemp -d /tmp/tradestore-prometheus-XXXXXX)
ts_pid=
prom_pid=
stop() { # PID
  [ -n "$1" ] || return 0
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
cleanup() {
  stop "$prom_pid"
  stop "$ts_pid"
  rm -rf "$tmp"
}
trap cleanup EXIT
start=$SECONDS
left() { echo $((DEADLINE - (SECONDS - start))); }

# tradestore on port 0: it picks a free port and logs the address it serves.
"$bin" serve --db "$tmp/t.db" --host 127.0.0.1 --port 0 --log-level info >"$tmp/ts.log" 2>&1 &
ts_pid=$!
base=
while [ "$(left)" -gt 0 ]; do
  base=$(grep -o 'serving http://127\.0\.0\.1:[0-9]*' "$tmp/ts.log" | head -1 | sed 's/^serving //') || true
  [ -n "$base" ] && break
  kill -0 "$ts_pid" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$base" ]; then
  echo "FAIL: tradestore did not start:"; cat "$tmp/ts.log"; exit 1
fi
target=${base#http://}
echo "tradestore at $base"
curl -fsS --max-time 5 -o /dev/null "$base/health"
curl -fsS --max-time 5 -o /dev/null -H 'Content-Type: application/json' \
  --data-binary '{"symbol": "BTC/USDT", "side": "buy", "type": "market", "quantity": "1"}' "$base/orders"

cat >"$tmp/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: tradestore
    static_configs:
      - targets: ['$target']
EOF

# Prometheus cannot report a port it picked itself, so ask the kernel for a
# free one; if another process takes it first, try again with a new one.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
prom=
for _ in 1 2 3; do
  port=$(free_port)
  rm -rf "$tmp/tsdb"
  prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/tsdb" \
    --web.listen-address="127.0.0.1:$port" --log.level=warn >"$tmp/prom.log" 2>&1 &
  prom_pid=$!
  while [ "$(left)" -gt 0 ] && kill -0 "$prom_pid" 2>/dev/null; do
    if curl -fsS --max-time 1 -o /dev/null "http://127.0.0.1:$port/-/ready" 2>/dev/null; then
      prom="http://127.0.0.1:$port"
      break
    fi
    sleep 0.2
  done
  [ -n "$prom" ] && break
  stop "$prom_pid"
  prom_pid=
  [ "$(left)" -gt 0 ] || break
done
if [ -z "$prom" ]; then
  echo "FAIL: prometheus did not become ready:"; cat "$tmp/prom.log"; exit 1
fi
echo "prometheus at $prom"

# query EXPR: prints the result vector of an instant query as JSON.
query() {
  curl -fsS --max-time 2 -G --data-urlencode "query=$1" "$prom/api/v1/query"
}
# check EXPR PYTHON_CONDITION: the condition holds for `r`, the result list.
check() {
  query "$1" | python3 -c '
import json, sys
d = json.load(sys.stdin)
r = d["data"]["result"] if d.get("status") == "success" else []
sys.exit(0 if ('"$2"') else 1)' 2>/dev/null
}

up_ok=false
series_ok=false
while [ "$(left)" -gt 0 ]; do
  $up_ok || { check 'up{job="tradestore"}' 'any(x["value"][1] == "1" for x in r)' && up_ok=true; } || true
  $series_ok || { check 'tradestore_http_requests_total' 'len(r) >= 1' && series_ok=true; } || true
  $up_ok && $series_ok && break
  sleep 0.5
done

status=0
if $up_ok; then echo "ok: up{job=\"tradestore\"} == 1"; else echo "FAIL: up never became 1"; status=1; fi
if $series_ok; then
  echo "ok: tradestore_http_requests_total has $(query tradestore_http_requests_total |
    python3 -c 'import json,sys; print(len(json.load(sys.stdin)["data"]["result"]))') series"
else
  echo "FAIL: no tradestore_http_requests_total series"; status=1
fi
if [ $status -ne 0 ]; then
  echo "--- up:"; query up || true; echo
  echo "--- targets:"; curl -fsS --max-time 2 "$prom/api/v1/targets" || true; echo
  echo "--- prometheus log:"; cat "$tmp/prom.log"
fi
echo "took $((SECONDS - start)) s"
exit $status
