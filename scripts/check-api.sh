#!/usr/bin/env bash
# Contract checks against the live local server: schemathesis fuzzes every operation of
# openapi.yaml (no 5xx, every status, header and body as documented), then newman runs the
# Postman collection's user journey. Starts a throwaway MongoDB unless MONGODB_URI is set.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/tools.sh
source scripts/lib/throwaway-mongo.sh

cargo build --quiet -p local-api
port=$(free_port)
base=http://127.0.0.1:$port
LOCAL_ADDR=127.0.0.1:$port MONGODB_DATABASE=contract_$port RUST_LOG=warn \
    JWT_SECRET=contract-check-secret-contract-check-secret target/debug/local-api &
at_exit "kill $!"
for _ in $(seq 1 100); do curl -s -o /dev/null "$base/" && break; sleep 0.1; done

token=$(curl -sf -X POST "$base/api/v1/auth/login" -d '{"username":"testuser","password":"testpassword"}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')

SCHEMATHESIS_TELEMETRY=false schemathesis run openapi.yaml --url "$base" \
    --header "Authorization: Bearer $token" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance \
    --max-examples "${SCHEMATHESIS_EXAMPLES:-25}" --seed 20261124 --workers 2 --no-color

scripts/newman.sh "$base/api/v1"
