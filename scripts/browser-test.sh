#!/usr/bin/env bash
# CORS in a real browser: headless Chromium (Selenium) loads a page from an allowed origin and
# from a disallowed one, and calls the local server with fetch from each
# (tests/browser/cors_test.py says what it checks); then the conversation explorer the local
# server serves at its root is worked as a person would (tests/browser/explorer_test.py).
# Installs Debian's chromium and chromium-driver if missing (as root; apt-get update only if
# the install needs it) and a pinned Selenium into a virtualenv in the cache; starts a
# throwaway MongoDB unless MONGODB_URI is set. Screenshots go to target/browser-artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/common.sh

selenium_version=4.51.0  # 4.52.0 needs certifi>=2026.10.23, which the package index here lacks
# The browser itself, not Debian's launcher /usr/bin/chromium: that one adds flags of its own
# from /etc/chromium.d (and trips over its /dev/shm size test in some containers).
chromium=/usr/lib/chromium/chromium
chromedriver=/usr/bin/chromedriver
target_dir=${CARGO_TARGET_DIR:-target}
artifacts=$target_dir/browser-artifacts
venv=${CHAT_BACKEND_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/chat-backend}/browser-venv
started=$SECONDS

mkdir -p "$artifacts"
rm -f "$artifacts"/*.png "$artifacts"/*.log

if [ ! -x "$chromium" ] || [ ! -x "$chromedriver" ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "browser-test.sh: Chromium is missing; install it with: sudo apt-get install -y chromium chromium-driver" >&2
        exit 1
    fi
    echo "installing chromium and chromium-driver (Debian packages)" >&2
    apt_log=$artifacts/apt.log
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -q --no-install-recommends chromium chromium-driver >"$apt_log" 2>&1; then
        echo "  the install needs fresh package lists: apt-get update" >&2
        if ! { apt-get update -q && apt-get install -y -q --no-install-recommends chromium chromium-driver; } >>"$apt_log" 2>&1; then
            tail -n 20 "$apt_log" >&2
            echo "browser-test.sh: apt-get install chromium chromium-driver failed (log: $apt_log)" >&2
            exit 1
        fi
    fi
fi

if ! "$venv/bin/python" -c "import selenium, sys; sys.exit(selenium.__version__ != '$selenium_version')" 2>/dev/null; then
    echo "installing selenium==$selenium_version into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "selenium==$selenium_version"
fi

source scripts/lib/throwaway-mongo.sh

# Three origins on the loopback: the API, the allowed page (127.0.0.1) and the disallowed page
# (localhost: another host, so another origin, though the same machine).
allowed_port=$(free_port)
disallowed_port=$(free_port)
allowed=http://127.0.0.1:$allowed_port
disallowed=http://localhost:$disallowed_port

start_local_api browser CORS_ALLOWED_ORIGINS="$allowed" LOGIN_MAX_FAILURES=2 \
    LOGIN_LOCKOUT_SECONDS=900 >"$artifacts/local-api.log" 2>&1
api=$base/api/v1
python3 -m http.server --bind 127.0.0.1 --directory tests/browser "$allowed_port" \
    >"$artifacts/allowed-page-server.log" 2>&1 &
at_exit "kill $!"
python3 -m http.server --bind 127.0.0.1 --directory tests/browser "$disallowed_port" \
    >"$artifacts/disallowed-page-server.log" 2>&1 &
at_exit "kill $!"

wait_for "http://127.0.0.1:$allowed_port/page.html"
wait_for "http://127.0.0.1:$disallowed_port/page.html"

status=0
SE_OFFLINE=true SE_AVOID_STATS=true CHROMIUM_BINARY=$chromium CHROMEDRIVER=$chromedriver \
    "$venv/bin/python" tests/browser/cors_test.py \
    --api "$api" --allowed "$allowed" --disallowed "$disallowed" --artifacts "$artifacts" || status=$?

# The conversation explorer (web/), served by the same local server at its root: a person's
# walk through the page (tests/browser/explorer_test.py says what it checks), then the time to
# show a 1,000-message, 100-member conversation and the bytes the page transfers (printed).
SE_OFFLINE=true SE_AVOID_STATS=true CHROMIUM_BINARY=$chromium CHROMEDRIVER=$chromedriver \
    "$venv/bin/python" tests/browser/explorer_test.py \
    --page "$base/" --artifacts "$artifacts" || status=$?

# The API documentation at /docs (tests/browser/docs_test.py): authorize with a token, "Try it
# out" on list-chats, 200 from the same origin, no CSP violation; screenshot docs-try-it-out.png.
SE_OFFLINE=true SE_AVOID_STATS=true CHROMIUM_BINARY=$chromium CHROMEDRIVER=$chromedriver \
    "$venv/bin/python" tests/browser/docs_test.py \
    --base "$base" --artifacts "$artifacts" || status=$?

echo "browser test took $((SECONDS - started)) s; logs and screenshots in $artifacts/" >&2
exit "$status"
