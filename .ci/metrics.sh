#!/usr/bin/env bash
# CI: `carnet serve --demo` with metrics on (a token), a few requests, then /metrics must hold
# the main series (and refuse a scrape without the token). Fresh SQLite file in a temp folder.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet
BIN="$PWD/target/debug/carnet"
WORK="$(mktemp -d)"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
TOKEN="ci-metrics-token-$(date +%s)-0123456789"
BASE="http://127.0.0.1:$PORT"
(cd "$WORK" && exec env -u CARNET_CONFIG DATABASE_URL="sqlite://$WORK/metrics.db" CARNET_METRICS_ENABLED=true \
  CARNET_METRICS_TOKEN="$TOKEN" CARNET_LOG=warn "$BIN" serve --demo --listen "127.0.0.1:$PORT" >"$WORK/serve.log" 2>&1) &
SERVER=$!
cleanup() { kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
for _ in $(seq 1 180); do
  curl -fsS "$BASE/readyz" >/dev/null 2>&1 && break
  kill -0 "$SERVER" 2>/dev/null || { cat "$WORK/serve.log"; echo "carnet serve --demo exited" >&2; exit 1; }
  sleep 1
done
curl -fsS "$BASE/readyz" >/dev/null
# A few requests: pages, the API document, a refused API call, a wrong login.
curl -fsS -o /dev/null "$BASE/login"
curl -fsS -o /dev/null "$BASE/api/v1/openapi.json"
curl -sS -o /dev/null "$BASE/api/v1/customers"
curl -sS -o /dev/null "$BASE/customers/1"
status="$(curl -sS -o /dev/null -w '%{http_code}' "$BASE/metrics")"
[ "$status" = "401" ] || { echo "/metrics without the token answered $status, expected 401" >&2; exit 1; }
curl -fsS -H "Authorization: Bearer $TOKEN" "$BASE/metrics" >"$WORK/metrics.txt"
missing=0
for series in \
  'carnet_http_requests_total{method="GET",route="/login",status="200"}' \
  'carnet_http_requests_total{method="GET",route="/api/v1/customers",status="401"}' \
  'carnet_http_requests_total{method="GET",route="/customers/{id}",status="303"}' \
  'carnet_http_request_duration_seconds_bucket{method="GET",route="/api/v1/openapi.json",le="+Inf"}' \
  'carnet_db_pool_connections{state="idle"}' \
  'carnet_db_pool_max_connections' \
  'carnet_db_acquire_seconds_count' \
  'carnet_jobs_queued{kind="deliver-email"}' \
  'carnet_jobs_oldest_due_age_seconds{kind="deliver-email"}' \
  'carnet_emails_queued' \
  'carnet_inbound_quarantined' \
  'carnet_scrape_database_ok 1' \
  'carnet_build_info{'; do
  if ! grep -qF "$series" "$WORK/metrics.txt"; then
    echo "missing series: $series" >&2
    missing=1
  fi
done
if [ "$missing" != 0 ]; then
  cat "$WORK/metrics.txt" >&2
  exit 1
fi
echo "metrics: $(grep -c '^carnet_' "$WORK/metrics.txt") samples, main series present"
