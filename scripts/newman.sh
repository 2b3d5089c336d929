#!/usr/bin/env bash
# Runs the Postman collection (postman/chat-backend.postman_collection.json) with newman against
# a running server: the whole user journey, registering a new user each run and deleting it
# at the end.
#
#   scripts/dev.sh &                                  # or any running server
#   scripts/newman.sh [base-url] [newman options...]  # base URL default http://127.0.0.1:3000/api/v1
#
# newman 6 is installed on first use (npm, Node 16 or newer) into
# ${CHAT_BACKEND_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/chat-backend}/newman and run from there.
# Exits non-zero if any request fails or any assertion does not hold. Extra arguments go to
# `newman run` (e.g. `--reporters cli,junit`).
set -euo pipefail
cd "$(dirname "$0")/.."

base_url=${1:-http://127.0.0.1:3000/api/v1}
shift || true
dir=${CHAT_BACKEND_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/chat-backend}/newman
newman=$dir/node_modules/.bin/newman

if [ ! -x "$newman" ]; then
    command -v npm >/dev/null || { echo "newman.sh: npm not found; install Node.js 16 or newer" >&2; exit 1; }
    echo "newman.sh: installing newman 6.2.2 into $dir (one-time)" >&2
    mkdir -p "$dir"
    # A package.json of its own, so npm installs here rather than in an enclosing project.
    [ -f "$dir/package.json" ] || echo '{"private": true}' >"$dir/package.json"
    npm install --prefix "$dir" --no-save --no-audit --no-fund --loglevel=error newman@6.2.2 >&2
fi

# An environment variable outranks the collection variable of the same name, so this is the
# base URL every request uses.
exec "$newman" run postman/chat-backend.postman_collection.json \
    --env-var "baseUrl=${base_url%/}" \
    --timeout-request 15000 \
    "$@"
