#!/usr/bin/env bash
# Load-tests add-message on the local server with wrk (apt-get install wrk): once with every
# request on one chat (all appends contend for one counter), once spread over 64 chats.
# Usage: scripts/bench/add-message.sh [duration, default 20s] [connections, default 32]
# BUILD_PROFILE=dev runs an unoptimised server (CI's short run checks the script, not figures).
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib/common.sh
duration=${1:-20s}
connections=${2:-32}
profile=${BUILD_PROFILE:-release}
port=$(free_port)
api=http://127.0.0.1:$port/api/v1

# Not `export MONGODB_URI=$(...)`: export would hide a failed start.
MONGODB_URI=${MONGODB_URI:-$(scripts/mongo.sh start)}
export MONGODB_URI
export MONGODB_DATABASE=bench_$(date +%s) JWT_SECRET=bench-secret-bench-secret-bench-secret LOCAL_ADDR=127.0.0.1:$port RUST_LOG=warn
cargo build --profile "$profile" -q -p local-api
"${CARGO_TARGET_DIR:-target}/$([ "$profile" = dev ] && echo debug || echo "$profile")/local-api" &
at_exit "kill $!"
wait_for "$api/"

json() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
TOKEN=$(curl -s -X POST "$api/auth/login" -d '{"username":"testuser","password":"testpassword"}' | json access_token)
export TOKEN
new_chat() { curl -s -X POST "$api/chats/create-chat" -H "Authorization: Bearer $TOKEN" -d '{"name":"bench"}' | json chat_id; }

echo "== $(nproc) cores; wrk -t2 -c$connections -d$duration; one chat"
CHATS=$(new_chat) wrk -t2 -c"$connections" -d"$duration" --latency -s scripts/bench/add-message.lua "$api/messages/add-message"

chats=$(for _ in $(seq 1 64); do new_chat; done | paste -sd,)
echo "== $(nproc) cores; wrk -t2 -c$connections -d$duration; 64 chats"
CHATS=$chats wrk -t2 -c"$connections" -d"$duration" --latency -s scripts/bench/add-message.lua "$api/messages/add-message"
