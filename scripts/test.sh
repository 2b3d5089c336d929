#!/usr/bin/env bash
# Runs every test against a real MongoDB. Unless MONGODB_URI is set, it installs MongoDB if
# needed, starts a throwaway instance on a free port, and removes it afterwards.
# Extra arguments go to `cargo test` (e.g. `scripts/test.sh concurrency`).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${MONGODB_URI:-}" ]; then
    MONGO_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    MONGO_DBPATH=$(mktemp -d -t chat-backend-test-XXXXXX)
    export MONGO_PORT MONGO_DBPATH
    trap 'scripts/mongo.sh stop; rm -rf "$MONGO_DBPATH" "$MONGO_DBPATH.lock"' EXIT
    MONGODB_URI=$(scripts/mongo.sh start)
    export MONGODB_URI
fi

cargo test --workspace "$@"
