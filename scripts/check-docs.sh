#!/usr/bin/env bash
# The README under test. Its API examples run against a local server on a fresh database, and
# scripts/check-readme.py checks every answer's status and shape against the README's own words
# (and, once, that a README edit breaking an example fails the check). Then every command of
# its Running-locally and Benchmarks sections runs in a short form — debug builds, a few rounds
# or seconds — and must exit 0. (The load test's short form runs in .ci/run; cargo lambda watch
# in scripts/check-lambdas.sh.) Starts a throwaway MongoDB unless MONGODB_URI is set.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/throwaway-mongo.sh
target_dir=${CARGO_TARGET_DIR:-target}
started=$SECONDS

step() { echo "== [$((SECONDS - started)) s] $*" >&2; }

cargo build --quiet -p local-api -p get-chat -p bench --bins

step "README examples"
start_local_api readme
python3 scripts/check-readme.py "$base/api/v1"
# The check can fail: the same examples, on a fresh database too, with one status the server
# does not answer, fail with exactly that problem.
broken=$(mktemp -t readme-XXXXXX.md)
at_exit "rm -f '$broken'"
sed '0,/^# Create a chat (200)/s//# Create a chat (201)/' README.md >"$broken"
start_local_api readme
if python3 scripts/check-readme.py "$base/api/v1" "$broken" 2>"$broken.out" ||
    [ "$(grep -c 'README says' "$broken.out")" != 1 ] || ! grep -q 'status 200, README says 201' "$broken.out"; then
    cat "$broken.out" >&2
    echo "check-docs.sh: a README whose example says 201 where the server answers 200 was not caught alone" >&2
    exit 1
fi
rm -f "$broken.out"

step "scripts/dev.sh (serves the API and the explorer)"
port=$(free_port)
LOCAL_ADDR=127.0.0.1:$port MONGODB_DATABASE=dev_$port RUST_LOG=warn setsid scripts/dev.sh --quiet &
dev=$!
at_exit "kill -- -$dev 2>/dev/null"
wait_for "http://127.0.0.1:$port/"
curl -sf -X POST "http://127.0.0.1:$port/api/v1/auth/login" \
    -d '{"username": "testuser", "password": "testpassword"}' | grep -q access_token
curl -sf "http://127.0.0.1:$port/" | grep -qi '<!doctype html>'
kill -- -"$dev"

step "scripts/mongo.sh start, status, uri, stop"
(
    export MONGO_PORT=$(free_port) MONGO_DBPATH
    MONGO_DBPATH=$(mktemp -d -t chat-backend-docs-mongo-XXXXXX)
    trap 'scripts/mongo.sh stop; rm -rf "$MONGO_DBPATH" "$MONGO_DBPATH.lock"' EXIT
    uri=$(scripts/mongo.sh start)
    [ "$uri" = "$(scripts/mongo.sh uri)" ]
    scripts/mongo.sh status
    [ "$(scripts/mongo.sh start)" = "$uri" ]  # idempotent
    scripts/mongo.sh stop
    ! scripts/mongo.sh status
)

step "benchmarks, short forms"
bench() { "$target_dir/debug/$1" "${@:2}" >/dev/null; }
bench paging --quick 3
bench branching 3
bench throughput 0.3 append1 get
bench overhead 5
bench trees --quick
instances_db=$(mktemp -d -t chat-backend-instances-XXXXXX)
at_exit "rm -rf '$instances_db' '$instances_db.lock'"
MONGO_PORT=$(free_port) MONGO_DBPATH=$instances_db bench instances --pools 5 --fleet 3 --seconds 2 --down 1
scripts/bench/cold-start.py "$target_dir/debug/get-chat" 2
if ! command -v wrk >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "installing wrk (Debian package)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk >/dev/null 2>&1 ||
        { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk >/dev/null; }
fi
BUILD_PROFILE=dev scripts/bench/add-message.sh 1s 2 >/dev/null

echo "README and documented commands checked in $((SECONDS - started)) s" >&2
