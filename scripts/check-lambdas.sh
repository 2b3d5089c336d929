#!/usr/bin/env bash
# The Lambda function binaries themselves (their `main`, the Lambda runtime loop, the
# environment they read, the `cargo lambda watch` router), run the ways users run them:
#
#  1. `cargo lambda watch` on a free port, with the Postman journey (scripts/newman.sh) against
#     its /api/v1 paths and a GET of every page file in the router; every function of the router
#     must have been started.
#  2. `sam local invoke` minus Docker: scripts/lambda-events.py feeds every function of
#     template.yaml the API Gateway events SAM generates for its routes, over the Lambda Runtime
#     API, with the environment `sam local` would give it from the env file of the README's
#     `sam local start-api` instructions.
#
# Every function is built once (debug), and both parts run those binaries. Starts a throwaway
# MongoDB unless MONGODB_URI is set. Honours CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/tools.sh
source scripts/lib/throwaway-mongo.sh

# Absolute, because `cargo lambda watch` runs cargo from elsewhere (below).
CARGO_TARGET_DIR=$(realpath -m "${CARGO_TARGET_DIR:-target}")
export CARGO_TARGET_DIR
mapfile -t functions < <(find functions -mindepth 1 -maxdepth 1 -type d ! -name local-api -printf '%f\n' | sort)
started=$SECONDS
cargo build --quiet "${functions[@]/#/--package=}"
echo "check-lambdas: built ${#functions[@]} functions in $((SECONDS - started)) s"

jwt_secret=check-lambdas-secret-check-lambdas-secret
work=$(mktemp -d -t check-lambdas-XXXXXX)
at_exit "rm -rf '$work'"

# 1. The journey through `cargo lambda watch`. It runs from an empty directory (with the
# workspace's manifest) because each function instance watches the current directory
# recursively, which in the workspace root means one inotify watch per directory of target/ per
# function; `--ignore-changes` keeps an edit elsewhere from restarting a function mid-journey.
started=$SECONDS
port=$(free_port)
mkdir "$work/watch"
(
    cd "$work/watch"
    MONGODB_DATABASE=lambdas_$port JWT_SECRET=$jwt_secret RUST_LOG=warn \
        exec setsid cargo lambda watch --manifest-path "$OLDPWD/Cargo.toml" --ignore-changes \
        --invoke-address 127.0.0.1 --invoke-port "$port" --color never
) >"$work/watch.log" 2>&1 &
watch_pid=$!
at_exit "kill -TERM -- -$watch_pid 2>/dev/null; wait $watch_pid 2>/dev/null"
for _ in $(seq 1 300); do
    (: <"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    kill -0 "$watch_pid" 2>/dev/null || { cat "$work/watch.log"; echo "check-lambdas: cargo lambda watch exited" >&2; exit 1; }
    sleep 0.2
done

fail_watch() { tail -n 100 "$work/watch.log" >&2; echo "check-lambdas: $1" >&2; exit 1; }
scripts/newman.sh "http://127.0.0.1:$port/api/v1" || fail_watch "the journey through cargo lambda watch failed"
mapfile -t pages < <(python3 -c 'import tomllib
router = tomllib.load(open("Cargo.toml", "rb"))["workspace"]["metadata"]["lambda"]["watch"]["router"]
print("\n".join(p for p, targets in router.items() if any(t["function"] == "web" for t in targets)))')
for page in "${pages[@]}"; do
    status=$(curl -s -o /dev/null -w '%{http_code}' --max-time 120 "http://127.0.0.1:$port$page") || true
    [ "$status" = 200 ] || fail_watch "GET $page through cargo lambda watch answered $status"
done
# Every function of the router served a request: cargo lambda watch starts each on demand with
# `cargo run`, which logs "Running `<target>/debug/<function>`".
missing=$(python3 - "$work/watch.log" <<'EOF'
import re, sys, tomllib
router = tomllib.load(open("Cargo.toml", "rb"))["workspace"]["metadata"]["lambda"]["watch"]["router"]
wanted = {t["function"] for targets in router.values() for t in targets}
started = set(re.findall(r"Running `[^`]*/debug/([^/`]+)`", open(sys.argv[1], errors="replace").read()))
print(" ".join(sorted(wanted - started)))
EOF
)
[ -z "$missing" ] || fail_watch "the journey never reached: $missing"
kill -TERM -- -"$watch_pid" 2>/dev/null || true
wait "$watch_pid" 2>/dev/null || true
echo "check-lambdas: the journey through cargo lambda watch passed in $((SECONDS - started)) s"

# 2. SAM's events, with the README's env file (its JSON, $MONGODB_URI filled in).
started=$SECONDS
python3 - README.md >"$work/env.json" <<'EOF'
import json, os, re, sys
readme = open(sys.argv[1]).read()
block = re.search(r"cat > /tmp/env\.json <<JSON\n(.*?)\nJSON\n", readme, re.S)
if not block:
    sys.exit("README.md: no `cat > /tmp/env.json <<JSON` block in the sam local instructions")
print(json.dumps(json.loads(os.path.expandvars(block.group(1)))))
EOF
python3 scripts/lambda-events.py "$CARGO_TARGET_DIR/debug" "$work/env.json" "MongoDbDatabase=sam_events_$$"
echo "check-lambdas: SAM events passed in $((SECONDS - started)) s"
