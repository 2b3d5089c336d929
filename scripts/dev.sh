#!/usr/bin/env bash
# Serves the whole API on http://127.0.0.1:3000/api/v1 with the same handlers the Lambda
# functions run, against a real MongoDB: unless MONGODB_URI is set, MongoDB is installed
# (first run only) and started by scripts/mongo.sh. The demo user testuser/testpassword is
# created if missing. Ctrl-C stops the API; `scripts/mongo.sh stop` stops MongoDB.
# Extra arguments go to `cargo run` (e.g. `scripts/dev.sh --release`).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${MONGODB_URI:-}" ]; then
    MONGODB_URI=$(scripts/mongo.sh start)
    export MONGODB_URI
fi

exec cargo run -p local-api "$@"
