#!/usr/bin/env bash
# GET /metrics passes `promtool check metrics` after real traffic (API.md,
# Operations), and holds the families operators alert on.
#
# Starts the tradestore binary on a temporary database and a free loopback
# port, makes some traffic with curl (health, an order, a fill, a 404, a
# 400), scrapes /metrics, lints the scrape with promtool and looks for the
# expected samples. Usage: tests/promtool_check.sh PATH/TO/tradestore
set -euo pipefail

bin=${1:?usage: promtool_check.sh PATH/TO/tradestore}
for tool in promtool curl; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool is missing (scripts/deps test installs it)"; exit 1; }
done

tmp=$(mktemp -d /tmp/tradestore-promtool-XXXXXX)
pid=
cleanup() {
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# Port 0: the server picks a free port and logs the address it serves.
"$bin" serve --db "$tmp/t.db" --host 127.0.0.1 --port 0 --log-level info >"$tmp/log" 2>&1 &
pid=$!
base=
for _ in $(seq 100); do
  base=$(grep -o 'serving http://127\.0\.0\.1:[0-9]*' "$tmp/log" | head -1 | sed 's/^serving //') || true
  [ -n "$base" ] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$base" ]; then
  echo "FAIL: tradestore did not start:"; cat "$tmp/log"; exit 1
fi
echo "tradestore at $base"

# call METHOD PATH WANT_STATUS [JSON_BODY]
call() {
  local args=(-sS -o "$tmp/body" -w '%{http_code}' -X "$1" --max-time 10)
  [ $# -ge 4 ] && args+=(-H 'Content-Type: application/json' --data-binary "$4")
  local got
  got=$(curl "${args[@]}" "$base$2")
  if [ "$got" != "$3" ]; then
    echo "FAIL: $1 $2 answered $got, want $3: $(cat "$tmp/body")"; exit 1
  fi
}
call GET /health 200
call POST /orders 201 '{"order_id": "o-1", "symbol": "BTC/USDT", "side": "buy", "type": "limit", "quantity": "1", "price": "100"}'
call POST /fills 201 '{"fill_id": "f-1", "order_id": "o-1", "price": "100", "quantity": "0.5"}'
call GET /orders/no-such-order 404
call GET '/orders?limit=0' 400

curl -fsS --max-time 10 "$base/metrics" >"$tmp/scrape"
status=0
if promtool check metrics <"$tmp/scrape" >"$tmp/promtool" 2>&1; then
  echo "ok: promtool check metrics"
else
  echo "FAIL: promtool check metrics:"; cat "$tmp/promtool"; status=1
fi

# expect DESCRIPTION EXTENDED_REGEX: a sample line of the scrape matches it.
expect() {
  if grep -Eq "$2" "$tmp/scrape"; then
    echo "ok: $1"
  else
    echo "FAIL: no $1 (/$2/) in the scrape"; status=1
  fi
}
expect 'request counter for /orders or /fills' \
  '^tradestore_http_requests_total\{[^}]*route="/(orders|fills)"[^}]*\} [1-9]'
expect 'request duration histogram bucket' '^tradestore_http_request_duration_seconds_bucket\{.*le="\+Inf"\} [1-9]'
expect 'one applied fill' '^tradestore_fills_total\{result="applied"\} 1$'
expect 'outbox events gauge' '^tradestore_outbox_events\{status="pending"\} [0-9]'
expect 'process CPU counter' '^process_cpu_seconds_total [0-9]'

if [ $status -ne 0 ]; then
  echo "--- scrape:"; cat "$tmp/scrape"
fi
exit $status
