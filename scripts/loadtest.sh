#!/usr/bin/env bash
# Load with an integrity check and database faults, on loopback only, bounded in time.
# Starts a MongoDB of its own (never yours: it gets killed), the local server, and the
# `loadtest` driver (bench/src/bin/loadtest), then prints the server's memory (peak over
# 256 MiB fails the run).
#
#   scripts/loadtest.sh          32 clients for 60 s, optimised builds; mongod is SIGKILLed at
#                                15 s and restarted 10 s later, then SIGSTOPped for 3 s at 45 s
#   scripts/loadtest.sh --short  16 clients for 16 s, debug builds, the same two faults (CI)
#
# The server runs with MONGODB_TIMEOUT_MS=2000 and REQUEST_TIMEOUT_MS=5000, so during a fault
# every request must be answered (503) within 5 s; the driver gives up after 6 s and counts
# that as an error. Creating writes carry an Idempotency-Key and are retried with it after a
# 503 until a definitive answer, so the verifier demands every acknowledged message exactly
# once and nothing unacknowledged. A few percent of the mix are tree operations (get-tree,
# edit, regenerate, delete/restore/prune branches, promote, compare, fork, export, import),
# checked against the driver's model of what every chat shows. Exits non-zero on any error,
# integrity problem, or write left unresolved after all its retries.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/common.sh

if [ "${1:-}" = "--short" ]; then
    shift
    build=(cargo build --quiet -p local-api -p bench --bin local-api --bin loadtest) bin=${CARGO_TARGET_DIR:-target}/debug
    load=(--clients 16 --seconds 16 --kill-at 3 --down-for 3 --pause-at 12 --pause-for 3 --grace 3)
else
    build=(cargo build --quiet --release -p local-api -p bench --bin local-api --bin loadtest) bin=${CARGO_TARGET_DIR:-target}/release
    load=(--clients 32 --seconds 60 --kill-at 15 --down-for 10 --pause-at 45 --pause-for 3 --grace 5)
fi
"${build[@]}"

unset MONGODB_URI  # faults are injected into this script's own MongoDB only
source scripts/lib/throwaway-mongo.sh
port=$(free_port)
export MONGODB_DATABASE=loadtest_$port
LOCAL_ADDR=127.0.0.1:$port RUST_LOG=error MONGODB_TIMEOUT_MS=2000 REQUEST_TIMEOUT_MS=5000 \
    JWT_SECRET=loadtest-secret-loadtest-secret-loadtest "$bin/local-api" &
server=$!
at_exit "kill $server"
wait_for "http://127.0.0.1:$port/"

memory() { awk '/^VmRSS|^VmHWM/ {printf "%s %.1f MiB  ", $1, $2 / 1024} END {print ""}' "/proc/$server/status"; }
echo "local server memory before the load: $(memory)"
status=0
"$bin/loadtest" --base "http://127.0.0.1:$port/api/v1" --timeout 6 "${load[@]}" "$@" || status=$?
echo "local server memory after the load:  $(memory)"
# Memory must stay bounded: a peak over 256 MiB means something holds what it should not.
peak_kib=$(awk '/^VmHWM/ {print $2}' "/proc/$server/status")
if [ "$peak_kib" -gt $((256 * 1024)) ]; then
    echo "loadtest: the local server peaked at $((peak_kib / 1024)) MiB (limit 256 MiB)" >&2
    status=1
fi
exit $status
