#!/usr/bin/env bash
# A bounded schemathesis pass against the API's OpenAPI document: `carnet serve --demo` on a
# fresh SQLite file (and on a fresh PostgreSQL schema when CARNET_TEST_POSTGRES_URL is set), an
# API token for the demo administrator, then every operation fuzzed from the document. Fails on
# any 5xx, any status the document does not declare, any response that does not match its
# schema. Bounded: SCHEMATHESIS_MAX_EXAMPLES cases per operation (default 10).
#
#   .ci/schemathesis.sh              # after `cargo test` (uses target/debug/carnet)
#   SCHEMATHESIS_MAX_EXAMPLES=50 .ci/schemathesis.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"

SCHEMATHESIS_VERSION=4.32.5
MAX_EXAMPLES="${SCHEMATHESIS_MAX_EXAMPLES:-10}"
SEED="${SCHEMATHESIS_SEED:-20261206}"

log() { printf '\n==> %s\n' "$*"; }

if [ "$(schemathesis --version 2>/dev/null || true)" != "schemathesis, version $SCHEMATHESIS_VERSION" ]; then
  log "installing schemathesis $SCHEMATHESIS_VERSION"
  python3 -m pip install --quiet "schemathesis==$SCHEMATHESIS_VERSION"
fi

bin="$root/target/debug/carnet"
[ -x "$bin" ] || cargo build --quiet --bin carnet

work="$(mktemp -d)"
server_pid=""
pg_schema=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  if [ -n "$pg_schema" ]; then psql "$CARNET_TEST_POSTGRES_URL" -qc "DROP SCHEMA IF EXISTS $pg_schema CASCADE" >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# One pass: $1 names the backend, $2 the database URL, $3 the PostgreSQL schema (or empty).
pass() {
  local name="$1" url="$2" schema="$3"
  local dir="$work/$name"
  mkdir -p "$dir"
  local port
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  local base="http://127.0.0.1:$port"
  # The server runs in its own folder (no carnet.toml; documents and .eml files there).
  local env=(DATABASE_URL="$url" CARNET_LOG=warn)
  if [ -n "$schema" ]; then env+=(CARNET_DATABASE_SCHEMA="$schema"); fi
  (cd "$dir" && exec env "${env[@]}" "$bin" serve --demo --listen "127.0.0.1:$port") >"$dir/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 120); do
    curl -fsS "$base/api/v1/openapi.json" -o /dev/null 2>/dev/null && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$dir/server.log" >&2; echo "carnet serve exited" >&2; return 1; }
    sleep 0.5
  done
  local token
  token="$(cd "$dir" && env "${env[@]}" "$bin" admin create-token \
    --user admin@carnet.demo --name schemathesis --expires-in-days 1 | tail -n 1 | tr -d '[:space:]')"
  log "schemathesis on $name ($MAX_EXAMPLES examples per operation)"
  local rc=0
  # From the scratch folder: schemathesis keeps its cache in the working directory. Revoking
  # tokens is left out (revoking the pass's own token would end it: every call a 401); a fixed
  # seed keeps CI repeatable (SCHEMATHESIS_SEED to explore).
  (cd "$work" && schemathesis run "$base/api/v1/openapi.json" --url "$base" \
    -H "Authorization: Bearer $token" \
    --checks not_a_server_error,status_code_conformance,response_schema_conformance,content_type_conformance \
    --phases examples,coverage,fuzzing \
    --max-examples "$MAX_EXAMPLES" --seed "$SEED" --workers 2 --no-shrink \
    --exclude-path '/api/v1/tokens/{id}' \
    --request-timeout 30 --output-truncate false) || rc=$?
  if grep -q "panicked\|request failed" "$dir/server.log"; then
    grep -n "panicked\|request failed" "$dir/server.log" | head -20 >&2
    rc=1
  fi
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
  return "$rc"
}

pass sqlite "sqlite://$work/carnet.db" ""
if [ -n "${CARNET_TEST_POSTGRES_URL:-}" ]; then
  pg_schema="schemathesis_$(date +%s)_$$"
  pass postgres "$CARNET_TEST_POSTGRES_URL" "$pg_schema"
fi
log "schemathesis passed"
